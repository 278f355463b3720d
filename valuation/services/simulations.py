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
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from strategies.engine import ApplicationError
from strategies.frame import COLUMNS
from strategies.simulation import CHANGED_COLUMNS, compare_frames

from ..errors import InvalidInput, NotFound
from ..store.tables import CreditDecisionRecord, SimulationChangeRecord, SimulationRecord, core
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
        report, changed = compare_frames(applications, strategy_of(base_record),
                                         strategy_of(cand_record), ids)
    except ApplicationError as exc:
        raise InvalidInput(exc.message, errors={"json": {exc.field: [exc.message]}}) from exc
    sim_id = str(uuid.uuid4())
    body = {"id": sim_id, "name": name, "candidate_version": candidate,
            "baseline_version": base_record.version, **report}
    session.add(SimulationRecord(id=sim_id, name=name, candidate_version=candidate,
                                 baseline_version=base_record.version, actor=principal.name,
                                 report_json=json.dumps(body, ensure_ascii=False, default=str)))
    session.flush()  # the report row first: its changes refer to it
    if len(changed):
        rows = changed.assign(simulation_id=sim_id).to_dict("records")
        session.execute(insert(core(SimulationChangeRecord)), [
            {k: (int(v) if k in _INTEGERS else v) for k, v in row.items()} for row in rows])
    return body


_INTEGERS = ("seq", "base_limit", "candidate_limit")
PER_PAGE_MAX = 200


def changes(session: Session, name: str, sim_id: str, page: int = 1, per_page: int = 50,
            outcome_changed_only: bool = False) -> dict[str, Any]:
    """One page of the applications whose decision the simulation changed, in application
    order: the page is read with LIMIT/OFFSET, never the whole list."""
    record = session.get(SimulationRecord, sim_id)
    if record is None or record.name != name:
        raise NotFound(f"no simulation {sim_id} for {name}")
    table = core(SimulationChangeRecord)
    where = [table.c.simulation_id == sim_id]
    if outcome_changed_only:
        where.append(table.c.base_outcome != table.c.candidate_outcome)
    total = session.scalar(select(func.count()).select_from(table).where(*where)) or 0
    per_page = max(1, min(per_page, PER_PAGE_MAX))
    rows = session.execute(select(*[table.c[c] for c in CHANGED_COLUMNS]).where(*where)
                           .order_by(table.c.seq).limit(per_page)
                           .offset((max(page, 1) - 1) * per_page)).mappings().all()
    return {"id": sim_id, "total": int(total), "page": max(page, 1), "per_page": per_page,
            "changes": [dict(r) for r in rows]}


def get(session: Session, name: str, sim_id: str) -> str:
    record = session.get(SimulationRecord, sim_id)
    if record is None or record.name != name:
        raise NotFound(f"no simulation {sim_id} for {name}")
    return record.report_json
