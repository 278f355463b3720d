"""Simulation service: replay stored decisions or an uploaded CSV of past applications under a
candidate strategy version and the active one; the report is stored and can be read back."""
from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from strategies.engine import ApplicationError
from strategies.frame import COLUMNS
from strategies.simulation import compare

from ..errors import InvalidInput, NotFound
from ..model.predictor import Predictor
from ..store.tables import CreditDecisionRecord, SimulationRecord
from . import lifecycle
from .keys import Principal
from .strategy_store import strategy_of

Progress = Callable[[str, int, int], None]
MAX_CSV_ROWS = 200_000
VEHICLE_COLUMNS = ("energy_type", "first_registration", "mileage_km")


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
    rows, ids = [], []
    for application_id, inputs_json in session.execute(query):
        inputs = json.loads(inputs_json)
        rows.append({**inputs["application"], "valuation": inputs["valuation"]["value"],
                     "confidence_level": inputs["valuation"]["confidence_level"]})
        ids.append(application_id)
    return pd.DataFrame(rows, columns=list(COLUMNS)), pd.Series(ids, dtype=object)


def csv_applications(data: bytes, predictor: Predictor | None) -> tuple[pd.DataFrame, pd.Series]:
    """Past applications from CSV; without `valuation` columns the cars are valued now."""
    try:
        frame = pd.read_csv(io.BytesIO(data), keep_default_na=True)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("unreadable CSV", errors={"files": {"file": [str(exc)[:200]]}}) from exc
    if len(frame) > MAX_CSV_ROWS:
        raise InvalidInput(f"at most {MAX_CSV_ROWS:,} rows", errors={"files": {"file": [
            "too many rows"]}})
    if "valuation" not in frame.columns:
        if predictor is None:
            raise InvalidInput("no model loaded to value the cars; add valuation columns",
                               errors={"files": {"file": ["valuation column missing"]}})
        pred = predictor.predict(frame)
        bad = pred["error"].notna()
        if bad.any():
            first = int(bad.to_numpy().nonzero()[0][0])
            raise InvalidInput(f"{int(bad.sum())} rows cannot be valued (row {first}: "
                               f"{pred['error'][first]})", errors={"files": {"file": [
                                   "invalid vehicle rows"]}})
        frame["valuation"] = pred["value"].round(0).astype("int64")
        frame["confidence_level"] = pred["confidence_level"]
    defaults = {"usage": None, "flood_damage": False, "fire_damage": False,
                "monthly_debt_payments": 0, "customer_score": None, "customer_tier": None,
                "dealer_tier": None, "product": None, "decision_date": str(dt.date.today()),
                "confidence_level": "high"}
    for col, value in defaults.items():
        if col not in frame.columns:
            frame[col] = value
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInput(f"CSV lacks columns {missing}", errors={"files": {"file": [
            f"missing columns: {', '.join(missing)}"]}})
    frame = frame.astype({c: object for c in ("usage", "customer_tier", "dealer_tier",
                                              "product")})
    frame = frame.where(frame.notna(), None)
    ids = frame["application_id"] if "application_id" in frame.columns else pd.Series(
        range(len(frame)))
    return frame[list(COLUMNS)], ids


def run(session: Session, principal: Principal, name: str, candidate: int,
        applications: pd.DataFrame, ids: pd.Series) -> dict[str, Any]:
    """Compare the candidate version with the active one and store the report."""
    base_record = lifecycle.active(session, name)
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
