"""Champion/challenger: a stable bucket per application decides the arm; shadow or live mode."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput, NotFound
from ..store.tables import CreditDecisionRecord, ExperimentRecord, utcnow
from . import lifecycle
from .keys import Principal

MODES = ("shadow", "live")
MAX_SHARE = 50


def bucket(application_id: str, salt: str) -> int:
    """0-99, stable for an application id and salt."""
    digest = hashlib.sha256(f"{salt}:{application_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def current(session: Session, name: str) -> ExperimentRecord | None:
    return session.scalar(select(ExperimentRecord).where(
        ExperimentRecord.name == name, ExperimentRecord.ended_at.is_(None)))


def start(session: Session, principal: Principal, name: str, challenger: int, share_pct: int,
          mode: str, salt: str) -> ExperimentRecord:
    record = lifecycle.get_version(session, name, challenger)
    if record.state not in (lifecycle.APPROVED, lifecycle.RETIRED):
        raise Conflict(f"{name}:{challenger} is {record.state}: a challenger must be "
                                 "an approved version that is not active")
    if not 0 <= share_pct <= MAX_SHARE or mode not in MODES:
        raise InvalidInput("share 0-50 and mode shadow|live", errors={"json": {
            "share_pct": ["0-50"]}})
    old = current(session, name)
    if old is not None:
        old.ended_at = utcnow()
    experiment = ExperimentRecord(name=name, challenger_version=challenger, share_pct=share_pct,
                                  mode=mode, salt=salt, actor=principal.name)
    session.add(experiment)
    lifecycle.audit(session, name, challenger, "experiment_start", principal.name,
                    f"{mode} {share_pct}% salt {salt}")
    session.flush()
    return experiment


def stop(session: Session, principal: Principal, name: str) -> None:
    experiment = current(session, name)
    if experiment is None:
        raise NotFound(f"no experiment running on {name}")
    experiment.ended_at = utcnow()
    lifecycle.audit(session, name, experiment.challenger_version, "experiment_end",
                    principal.name, None)


def body(experiment: ExperimentRecord | None) -> dict[str, Any] | None:
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
    for arm, response, shadow in rows:
        arms[arm].append(json.loads(response))
        if shadow:
            arms["challenger"].append(json.loads(shadow))
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
    return {"experiment": body(experiment), "arms": out}
