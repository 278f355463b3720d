"""Champion/challenger: a stable bucket per subject (the customer id, else the car's VIN; never
the application id, which a declined applicant could change) decides the arm; shadow or live.

Starting an experiment dry-runs the challenger over the inputs of recent stored decisions and
is refused if it cannot decide them; at most one experiment is open per strategy (a unique
index), and activation or rollback ends it."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from strategies.engine import ApplicationError
from strategies.frame import decide_frame

from ..errors import Conflict, InvalidInput, NotFound
from ..store.tables import CreditDecisionRecord, ExperimentRecord, core, utcnow
from . import activation, lifecycle, strategy_store
from .keys import Principal
from .simulations import applications_of

MODES = ("shadow", "live")
MAX_SHARE = 50
DRY_RUN_DECISIONS = 500


def bucket(subject: str, salt: str) -> int:
    """0-99, stable for a subject (customer id or VIN) and salt."""
    digest = hashlib.sha256(f"{salt}:{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def current(session: Session, name: str) -> ExperimentRecord | None:
    return session.scalar(select(ExperimentRecord).where(
        ExperimentRecord.name == name, ExperimentRecord.ended_at.is_(None)))


_EXPERIMENTS = core(ExperimentRecord)
_RUNNING = select(_EXPERIMENTS).where(_EXPERIMENTS.c.name == bindparam("name"),
                                      _EXPERIMENTS.c.ended_at.is_(None))


def running(session: Session, name: str) -> Row | None:
    """`current` for readers (every decision): a read-only row, one prebuilt Core query."""
    return session.connection().execute(_RUNNING, {"name": name}).first()


def dry_run(session: Session, name: str, version: int) -> int:
    """Decide the inputs of the latest stored decisions under `version`; Conflict if it cannot.
    Returns how many it decided."""
    rows = session.execute(select(CreditDecisionRecord.application_id,
                                  CreditDecisionRecord.inputs_json)
                           .where(CreditDecisionRecord.strategy_name == name)
                           .order_by(CreditDecisionRecord.created_at.desc())
                           .limit(DRY_RUN_DECISIONS)).all()
    if not rows:
        return 0
    frame, _ = applications_of(rows)
    try:
        decide_frame(frame, strategy_store.version(session, name, version))
    except ApplicationError as exc:
        raise Conflict(f"{name}:{version} cannot decide recent applications: {exc.message}",
                       errors={"json": {"challenger_version": [exc.message]}}) from exc
    return len(rows)


def start(session: Session, principal: Principal, name: str, challenger: int, share_pct: int,
          mode: str, salt: str) -> ExperimentRecord:
    lifecycle.require_credit(name)
    record = lifecycle.get_version(session, name, challenger)
    champion = activation.active(session, name)
    if name != lifecycle.DEFAULT_NAME or champion is None:
        raise Conflict(f"experiments run on the strategy that decides ({lifecycle.DEFAULT_NAME!r})")
    if record.state not in (lifecycle.APPROVED, lifecycle.RETIRED) or \
            record.content_hash == champion.content_hash:
        raise Conflict(f"{name}:{challenger} is {record.state}: a challenger must be "
                       "an approved version that differs from the champion")
    if not 0 <= share_pct <= MAX_SHARE or mode not in MODES:
        raise InvalidInput("share 0-50 and mode shadow|live", errors={"json": {
            "share_pct": ["0-50"]}})
    activation.check_tiers_in_use(session, name, strategy_store.strategy_of(record))
    tried = dry_run(session, name, challenger)
    old = current(session, name)
    if old is not None:
        old.ended_at = utcnow()
        session.flush()  # the old one closes before the new one opens (one open per name)
    experiment = ExperimentRecord(name=name, challenger_version=challenger, share_pct=share_pct,
                                  mode=mode, salt=salt, actor=principal.name)
    session.add(experiment)
    lifecycle.audit(session, name, challenger, "experiment_start", principal.name,
                    f"{mode} {share_pct}% salt {salt}; dry run on {tried} recent decisions")
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"another experiment on {name!r} was just started; read it and retry"
                       ) from exc
    return experiment


def stop(session: Session, principal: Principal, name: str) -> None:
    experiment = current(session, name)
    if experiment is None:
        raise NotFound(f"no experiment running on {name}")
    experiment.ended_at = utcnow()
    lifecycle.audit(session, name, experiment.challenger_version, "experiment_end",
                    principal.name, None)


def body(experiment: ExperimentRecord | Row | None) -> dict[str, Any] | None:
    if experiment is None:
        return None
    return {"challenger_version": experiment.challenger_version,
            "share_pct": experiment.share_pct, "mode": experiment.mode, "salt": experiment.salt,
            "started_at": experiment.started_at.isoformat(timespec="seconds")}


def report(session: Session, name: str) -> dict[str, Any]:
    """Approve rate, mean limit and price-capped share per arm, for the running experiment."""
    experiment = current(session, name)
    if experiment is None:
        raise NotFound(f"no experiment running on {name}")
    started = experiment.started_at
    rows = session.execute(select(CreditDecisionRecord.arm, CreditDecisionRecord.response_json,
                                  CreditDecisionRecord.shadow_json).where(
        CreditDecisionRecord.strategy_name == name, CreditDecisionRecord.created_at >= started))
    arms: dict[str, list[dict[str, Any]]] = {"champion": [], "challenger": []}
    challenger_errors = 0
    for arm, response, shadow in rows:
        arms[arm].append(json.loads(response))
        if shadow:
            trial = json.loads(shadow)
            if "error" in trial:
                challenger_errors += 1
            else:
                arms["challenger"].append(trial)
    out = {}
    for arm, decisions in arms.items():
        n = len(decisions)
        out[arm] = {
            "decisions": n,
            "approve_rate": round(sum(d["outcome"] == "approve" for d in decisions) / n, 4)
            if n else None,
            "mean_final_limit": round(sum(d["final_limit"] for d in decisions) / n, 2)
            if n else None,
            "price_capped_share": round(sum(d["recognized_price"] < d["declared_price"]
                                            for d in decisions) / n, 4) if n else None}
    return {"experiment": body(experiment), "arms": out,
            "challenger_errors": challenger_errors}
