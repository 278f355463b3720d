"""The credit-limit service: resolves tiers, the valuation and the active strategy, calls the
pure `strategies.engine.decide`, stores every decision with its inputs, and replays it."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from strategies.document import Strategy, canonical_json
from strategies.engine import Application, ApplicationError, ValuationInput, decide

from ..errors import Conflict, InvalidInput, NotFound
from ..model.predictor import Predictor
from ..model.record import validate_frame
from ..store.tables import CreditDecisionRecord, DealerRecord, ValuationRecord, utcnow
from . import experiments, lifecycle, strategy_store, valuations
from .keys import Principal

DECISION_FIELDS = ("outcome", "recognized_price", "price_gap_pct", "ltv", "requested_amount",
                   "limit_before_adjustments", "final_limit", "reasons", "steps")


def _valuation_inputs(session: Session, predictor: Predictor | None, principal: Principal,
                      request: dict[str, Any]) -> dict[str, Any]:
    """The valuation facts a decision needs: a stored valuation, or the inline car valued now."""
    if request.get("valuation_id"):
        record = session.get(ValuationRecord, request["valuation_id"])
        if record is None:
            raise NotFound(f"no valuation {request['valuation_id']}")
        body, car = json.loads(record.response_json), json.loads(record.request_json)
    else:
        valuation_id, text = valuations.create(session, predictor, principal, request["vehicle"])
        body, car = json.loads(text), request["vehicle"]
    # the stored request may come from a CSV batch (all text): type it as the record does
    typed = validate_frame(pd.DataFrame([car]), training=False).frame.iloc[0]
    return {
        "valuation_id": body["id"], "value": body["value"]["retail"],
        "confidence_level": body["confidence"]["level"], "model": body["model"],
        "energy_type": typed["energy_type"],
        "usage": None if pd.isna(typed["usage"]) else typed["usage"],
        "first_registration": str(typed["first_registration"].date()),
        "mileage_km": float(typed["mileage_km"]),
        "flood_damage": _flag(typed["flood_damage"]),
        "fire_damage": _flag(typed["fire_damage"]),
    }


def _flag(value: Any) -> bool:
    return False if pd.isna(value) else bool(value)


def _dealer_tier(session: Session, dealer: dict[str, Any]) -> str | None:
    if dealer.get("tier"):
        return str(dealer["tier"])
    record = session.get(DealerRecord, dealer["id"])
    return record.tier if record is not None else None


def build_inputs(session: Session, predictor: Predictor | None, principal: Principal,
                 request: dict[str, Any]) -> dict[str, Any]:
    """Everything `decide` consumes, as plain JSON: what is stored and what replay uses."""
    val = _valuation_inputs(session, predictor, principal, request)
    customer = request["customer"]
    return {
        "application": {
            "application_id": request["application_id"],
            "declared_price": request["declared_price"], "down_payment": request["down_payment"],
            "term_months": request["term_months"], "annual_rate": str(request["annual_rate"]),
            "is_new": request["is_new"], "energy_type": val["energy_type"],
            "usage": val["usage"], "first_registration": val["first_registration"],
            "mileage_km": val["mileage_km"], "flood_damage": val["flood_damage"],
            "fire_damage": val["fire_damage"],
            "monthly_income": customer["monthly_income"],
            "monthly_debt_payments": customer.get("monthly_debt_payments", 0),
            "decision_date": str(dt.date.today()),
            "customer_score": customer.get("score"), "customer_tier": customer.get("tier"),
            "dealer_tier": _dealer_tier(session, request["dealer"]),
            "product": request.get("product"),
        },
        "valuation": {"value": val["value"], "confidence_level": val["confidence_level"]},
        "valuation_id": val["valuation_id"], "model": val["model"],
    }


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
        "steps": [dataclasses.asdict(step) for step in decision.steps],
    }


def create(session: Session, predictor: Predictor | None, principal: Principal,
           request: dict[str, Any]) -> tuple[str, str, bool]:
    """Decide and store; the same application_id and body returns the stored decision
    (created False), a different body is a 409. Returns (id, response text, created)."""
    request_hash = "sha256:" + hashlib.sha256(canonical_json(request).encode()).hexdigest()
    existing = session.scalar(select(CreditDecisionRecord).where(
        CreditDecisionRecord.application_id == request["application_id"]))
    if existing is not None:
        if existing.request_hash != request_hash:
            raise Conflict(f"application {request['application_id']} was decided with a "
                           "different body", errors={"json": {"application_id": [
                               "already used with a different body"]}})
        return existing.id, existing.response_json, False
    champion, strategy = strategy_store.active_strategy(session)
    inputs = build_inputs(session, predictor, principal, request)
    chosen, arm, challenger_version, shadow = champion, "champion", None, None
    decision = run(inputs, strategy)
    experiment = experiments.current(session, champion.name)
    if experiment is not None:
        challenger_version = experiment.challenger_version
        record = lifecycle.get_version(session, champion.name, challenger_version)
        in_bucket = experiments.bucket(request["application_id"], experiment.salt) \
            < experiment.share_pct
        if in_bucket:
            other = run(inputs, strategy_store.strategy_of(record))
            if experiment.mode == "live":
                chosen, arm, decision = record, "challenger", other
            else:
                shadow = canonical_json({**other, "strategy": {
                    "name": record.name, "version": record.version}})
    decision_id = str(uuid.uuid4())
    body = {"id": decision_id, "application_id": request["application_id"], **decision,
            "strategy": {"name": chosen.name, "version": chosen.version,
                         "hash": chosen.content_hash, "arm": arm,
                         "champion_version": champion.version,
                         "challenger_version": challenger_version},
            "model": inputs["model"], "valuation_id": inputs["valuation_id"],
            "created_at": utcnow().isoformat(timespec="seconds")}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    session.add(CreditDecisionRecord(
        id=decision_id, application_id=request["application_id"], actor=principal.name,
        request_hash=request_hash, request_json=canonical_json(request),
        inputs_json=canonical_json(inputs), response_json=text, strategy_name=chosen.name,
        strategy_version=chosen.version, valuation_id=inputs["valuation_id"],
        arm=arm, champion_version=champion.version, challenger_version=challenger_version,
        shadow_json=shadow,
        model_name=inputs["model"]["name"], model_version=inputs["model"]["version"],
        outcome=decision["outcome"], final_limit=decision["final_limit"]))
    return decision_id, text, True


def get(session: Session, decision_id: str) -> str:
    record = session.get(CreditDecisionRecord, decision_id)
    if record is None:
        raise NotFound(f"no credit decision {decision_id}")
    return record.response_json


def replay(session: Session, decision_id: str) -> dict[str, Any]:
    """Recompute a decision from its stored inputs with the strategy version it used."""
    record = session.get(CreditDecisionRecord, decision_id)
    if record is None:
        raise NotFound(f"no credit decision {decision_id}")
    strategy = strategy_store.version(session, record.strategy_name, record.strategy_version)
    again = run(json.loads(record.inputs_json), strategy)
    stored = json.loads(record.response_json)
    differences = {f: {"stored": stored.get(f), "replayed": again.get(f)}
                   for f in DECISION_FIELDS if canonical_json(stored.get(f)) != canonical_json(again.get(f))}
    return {"id": decision_id, "identical": not differences, "differences": differences,
            "strategy": {"name": record.strategy_name, "version": record.strategy_version}}


def put_dealer(session: Session, dealer_id: str, name: str, tier: str | None) -> dict[str, Any]:
    _, strategy = strategy_store.active_strategy(session)
    if tier is not None and tier not in strategy.dealer_tiers:
        raise InvalidInput(f"tier {tier!r} is not in the active strategy",
                           errors={"json": {"tier": [f"one of {list(strategy.dealer_tiers)}"]}})
    record = session.get(DealerRecord, dealer_id)
    if record is None:
        record = DealerRecord(id=dealer_id, name=name, tier=tier)
        session.add(record)
    else:
        record.name, record.tier = name, tier
    session.flush()
    return dealer_body(record)


def get_dealer(session: Session, dealer_id: str) -> dict[str, Any]:
    record = session.get(DealerRecord, dealer_id)
    if record is None:
        raise NotFound(f"no dealer {dealer_id}")
    return dealer_body(record)


def dealer_body(record: DealerRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "tier": record.tier}
