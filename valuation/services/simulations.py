"""Simulation service: replay stored decisions or an uploaded CSV of past applications under a
candidate strategy version and the active one; the report is stored and can be read back."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from strategies.engine import ApplicationError
from strategies.frame import COLUMNS
from strategies.simulation import compare

from ..errors import InvalidInput, NotFound
from ..store.tables import CreditDecisionRecord, SimulationRecord
from . import activation, lifecycle
from .keys import Principal
from .strategy_store import strategy_of

Progress = Callable[[str, int, int], None]


def stored_applications(session: Session, start: dt.date | None, end: dt.date | None
                        ) -> tuple[pd.DataFrame, pd.Series]:
    """Inputs of stored decisions made in [start, end] (dates inclusive)."""
    query = select(CreditDecisionRecord.application_id, CreditDecisionRecord.inputs_json)
    if start:
        query = query.where(CreditDecisionRecord.created_at >= dt.datetime.combine(
            start, dt.time.min, dt.UTC))
    if end:
        query = query.where(CreditDecisionRecord.created_at < dt.datetime.combine(
            end + dt.timedelta(days=1), dt.time.min, dt.UTC))
    return applications_of(session.execute(query).all())


def applications_of(stored: Sequence[Any]) -> tuple[pd.DataFrame, pd.Series]:
    """The applications frame of stored decisions' (application_id, inputs_json) rows."""
    rows, ids = [], []
    for application_id, inputs_json in stored:
        inputs = json.loads(inputs_json)
        rows.append({**inputs["application"], "valuation": inputs["valuation"]["value"],
                     "confidence_level": inputs["valuation"]["confidence_level"]})
        ids.append(application_id)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["annual_rate"] = frame["annual_rate"].map(Decimal)
    return frame, pd.Series(ids, dtype=object)


def run(session: Session, principal: Principal, name: str, candidate: int,
        applications: pd.DataFrame, ids: pd.Series) -> dict[str, Any]:
    """Compare the candidate version with the active one and store the report."""
    lifecycle.require_credit(name)
    base_record = activation.active(session, name)
    if base_record is None:
        raise NotFound(f"strategy {name!r} has no active version")
    cand_record = lifecycle.get_version(session, name, candidate)
    if applications.empty:
        raise InvalidInput("no applications to simulate", errors={"json": {"_schema": [
            "no applications in the range or file"]}})
    try:
        report = compare(applications, strategy_of(base_record), strategy_of(cand_record), ids)
    except ApplicationError as exc:
        raise InvalidInput(exc.message, errors={"json": {exc.field: [exc.message]}}) from exc
    sim_id = str(uuid.uuid4())
    body = {"id": sim_id, "name": name, "candidate_version": candidate,
            "baseline_version": base_record.version, **report}
    session.add(SimulationRecord(id=sim_id, name=name, candidate_version=candidate,
                                 baseline_version=base_record.version, actor=principal.name,
                                 report_json=json.dumps(body, ensure_ascii=False, default=str)))
    return body


def get(session: Session, name: str, sim_id: str) -> str:
    record = session.get(SimulationRecord, sim_id)
    if record is None or record.name != name:
        raise NotFound(f"no simulation {sim_id} for {name}")
    return record.report_json
