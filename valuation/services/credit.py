"""The credit-limit service: gathers the checked inputs (`decision_inputs`), calls the pure
`strategies.engine.decide` under the active strategy (and a challenger, when an experiment
runs), stores every decision with its inputs, and replays it."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, insert, select
from sqlalchemy.orm import Session

from strategies.document import Strategy, canonical_json
from strategies.engine import Application, ApplicationError, ValuationInput, decide

from ..errors import Conflict, InvalidInput, NotFound
from ..model.predictor import Predictor
from ..store.tables import CreditDecisionRecord, StrategyVersionRecord, core, utcnow
from . import experiments, lifecycle, strategy_store
from .decision_inputs import ValuationRules, build_inputs
from .keys import Principal

_DECISIONS = core(CreditDecisionRecord)
# The idempotency look-up every decision makes: built once, a Core query.
_EXISTING = select(_DECISIONS.c.id, _DECISIONS.c.request_hash, _DECISIONS.c.response_json).where(
    _DECISIONS.c.application_id == bindparam("application_id"))
_INSERT = insert(_DECISIONS)
DECISION_FIELDS = ("outcome", "recognized_price", "price_gap_pct", "ltv", "requested_amount",
                   "limit_before_adjustments", "final_limit", "reasons", "steps", "facts")


def run(inputs: dict[str, Any], strategy: Strategy) -> dict[str, Any]:
    """The decision as JSON-ready data (the pure engine on stored inputs)."""
    a = dict(inputs["application"])
    a["annual_rate"] = Decimal(a["annual_rate"])
    for key in ("first_registration", "decision_date"):
        a[key] = dt.date.fromisoformat(a[key])
    try:
        decision = decide(Application(**a), ValuationInput(**inputs["valuation"]), strategy)
    except ApplicationError as exc:
        raise InvalidInput(exc.message, errors={"json": {exc.field: [exc.message]}}) from exc
    facts = decision.facts
    assert facts is not None
    asserted = inputs.get("asserted", {})
    return {
        "outcome": decision.outcome, "segment": decision.segment,
        "customer_tier": decision.customer_tier, "dealer_tier": decision.dealer_tier,
        "declared_price": a["declared_price"], "recognized_price": decision.recognized_price,
        "price_gap_pct": str(decision.price_gap_pct), "ltv": str(decision.ltv),
        "requested_amount": decision.requested_amount,
        "limit_before_adjustments": decision.limit_before_adjustments,
        "final_limit": decision.final_limit,
        "reasons": [{"code": code, **strategy.reasons.get(code, {})}
                    for code in decision.reasons],
        "steps": [step._asdict() for step in decision.steps],
        "facts": {
            "is_new": {"asserted": a["is_new"], "used": facts.is_new},
            "usage": {"asserted": a["usage"],
                      "treated_as": "commercial" if facts.commercial else "private"},
            "first_registration": {"asserted": asserted.get("first_registration"),
                                   "used": str(a["first_registration"])},
            "regulatory_ltv_cap": str(facts.regulatory_cap),
        },
    }


def _challenger(session: Session, champion: StrategyVersionRecord | Row, inputs: dict[str, Any]
                ) -> tuple[StrategyVersionRecord | None, dict[str, Any]]:
    """The running experiment's challenger and its decision on these inputs, or None when no
    experiment runs, the application has no stable subject, or its bucket is the champion's.
    A challenger that cannot decide returns {"error": ...}: it never fails the application."""
    experiment = experiments.running(session, champion.name)
    subject = inputs.get("subject")
    if experiment is None or not subject:
        return None, {}
    if experiments.bucket(subject, experiment.salt) >= experiment.share_pct:
        return None, {"experiment": experiment}
    record = lifecycle.get_version(session, champion.name, experiment.challenger_version)
    try:
        decision = run(inputs, strategy_store.strategy_of(record))
    except InvalidInput as exc:
        decision = {"error": exc.message}
    return record, {"experiment": experiment, "decision": decision}


def create(session: Session, predictor: Predictor | None, principal: Principal,
           request: dict[str, Any], rules: ValuationRules | None = None
           ) -> tuple[str, str, bool]:
    """Decide and store; the same application_id and body returns the stored decision
    (created False), a different body is a 409. Returns (id, response text, created)."""
    request_text = canonical_json(request)
    request_hash = "sha256:" + hashlib.sha256(request_text.encode()).hexdigest()
    existing = session.connection().execute(
        _EXISTING, {"application_id": request["application_id"]}).first()
    if existing is not None:
        if existing.request_hash != request_hash:
            raise Conflict(f"application {request['application_id']} was decided with a "
                           "different body", errors={"json": {"application_id": [
                               "already used with a different body"]}})
        return existing.id, existing.response_json, False
    champion, strategy = strategy_store.active_strategy(session)
    inputs = build_inputs(session, predictor, principal, request, strategy,
                          rules or ValuationRules())
    decision = run(inputs, strategy)
    chosen, arm, shadow, fallback = champion, "champion", None, None
    challenger, trial = _challenger(session, champion, inputs)
    experiment = trial.get("experiment")
    if challenger is not None and experiment is not None:
        other = trial["decision"]
        if experiment.mode == "live" and "error" not in other:
            chosen, arm, decision = challenger, "challenger", other
        else:
            if experiment.mode == "live":
                fallback = f"challenger could not decide: {other['error']}"
            shadow = canonical_json({**other, "strategy": {
                "name": challenger.name, "version": challenger.version}})
    decision_id = str(uuid.uuid4())
    body = {"id": decision_id, "application_id": request["application_id"], **decision,
            "strategy": {"name": chosen.name, "version": chosen.version,
                         "hash": chosen.content_hash, "arm": arm,
                         "champion_version": champion.version,
                         "challenger_version": experiment.challenger_version if experiment
                         else None, **({"fallback": fallback} if fallback else {})},
            "model": inputs["model"], "valuation_id": inputs["valuation_id"],
            "created_at": utcnow().isoformat(timespec="seconds")}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    session.connection().execute(_INSERT, [{
        "id": decision_id, "application_id": request["application_id"], "actor": principal.name,
        "request_hash": request_hash, "request_json": request_text,
        "inputs_json": canonical_json(inputs), "response_json": text,
        "strategy_name": chosen.name, "strategy_version": chosen.version,
        "valuation_id": inputs["valuation_id"], "arm": arm,
        "champion_version": champion.version,
        "challenger_version": experiment.challenger_version if experiment else None,
        "shadow_json": shadow, "model_name": inputs["model"]["name"],
        "model_version": inputs["model"]["version"], "outcome": decision["outcome"],
        "final_limit": decision["final_limit"]}])  # Core: no ORM unit of work per decision
    return decision_id, text, True


def get(session: Session, decision_id: str) -> str:
    record = session.get(CreditDecisionRecord, decision_id)
    if record is None:
        raise NotFound(f"no credit decision {decision_id}")
    return record.response_json


def find(session: Session, key: str) -> str:
    """The id of the decision whose id or application id is `key` (the console's look-up)."""
    key = key.strip()
    found = session.scalar(select(CreditDecisionRecord.id).where(
        (CreditDecisionRecord.id == key) | (CreditDecisionRecord.application_id == key)))
    if found is None:
        raise NotFound(f"no credit decision with id or application id {key!r}")
    return found


def replay(session: Session, decision_id: str) -> dict[str, Any]:
    """Recompute a decision from its stored inputs with the strategy version it used."""
    record = session.get(CreditDecisionRecord, decision_id)
    if record is None:
        raise NotFound(f"no credit decision {decision_id}")
    strategy = strategy_store.version(session, record.strategy_name, record.strategy_version)
    again = run(json.loads(record.inputs_json), strategy)
    stored = json.loads(record.response_json)
    # decisions stored before `facts` existed are compared on the fields they have
    fields = [f for f in DECISION_FIELDS if f in stored or f != "facts"]
    differences = {f: {"stored": stored.get(f), "replayed": again.get(f)} for f in fields
                   if canonical_json(stored.get(f)) != canonical_json(again.get(f))}
    return {"id": decision_id, "identical": not differences, "differences": differences,
            "strategy": {"name": record.strategy_name, "version": record.strategy_version}}
