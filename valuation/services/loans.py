"""The loan book: import a loan tape (CSV or Parquet; upsert by `loan_id`), read a loan with its
revaluation history.

A tape has one row per loan: `loan_id`, `application_id`, `dealer_id`, `funded_at`, `principal`,
`term_months`, `annual_rate`, `outstanding_balance`, `balance_date`, `status` (active, closed,
written_off), `days_past_due`, `odometer_km`, `odometer_date`, and the car: either
`valuation_id` (a stored valuation it was funded on) or the canonical record's columns (brand,
series, first_registration, mileage_km at funding, ...). Money has at most 2 decimals and is
kept in fen (integers). Each bad row is reported with its row number (1 = the first loan) and
field, the good rows are kept; the rows go in chunks, each chunk one transaction. A new loan
is valued at its funding date with the served model (its value and lending value then).
"""
from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from strategies.document import MAX_MONEY, ratio_text

from .. import clock
from ..errors import DataError, NotFound, ServiceUnavailable
from ..model.predictor import Predictor
from ..model.record import FIELD_BY_NAME, validate_frame
from ..store.tables import (
    DealerRecord,
    LoanRecord,
    LoanRevaluationRecord,
    MonitoringRunRecord,
    ValuationRecord,
    utcnow,
)
from . import csv_text
from .valuations import whole_units

STATUSES = ("active", "closed", "written_off")
REQUIRED = ("loan_id", "dealer_id", "funded_at", "principal", "term_months", "annual_rate",
            "outstanding_balance", "balance_date", "status")
OPTIONAL = ("application_id", "days_past_due", "odometer_km", "odometer_date", "valuation_id")
VEHICLE = tuple(n for n in FIELD_BY_NAME if n not in ("price", "valuation_date"))
CHUNK_ROWS = 1_000
MAX_ERRORS = 1_000  # reported per import (the counts cover every row)


def read_tape(data: bytes, filename: str) -> pd.DataFrame:
    """A loan tape as text columns ('' for empty); CSV or Parquet by the file name."""
    try:
        if filename.lower().endswith((".parquet", ".pq")):
            frame = pd.read_parquet(io.BytesIO(data))
            frame = frame.astype(object).where(frame.notna(), "")
            frame = frame.map(lambda v: v.isoformat()[:10] if hasattr(v, "isoformat") else str(v))
        else:
            frame = csv_text.text_frame(data)
    except Exception as exc:  # noqa: BLE001 - any reader failure means "not a tape"
        why = str(exc) if str(exc) == csv_text.NOT_TEXT else type(exc).__name__
        raise DataError(f"unreadable loan tape {filename}: {why}") from exc
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"the loan tape lacks the columns {', '.join(missing)}",
                        errors={"file": {c: ["missing column"] for c in missing}})
    return frame.reset_index(drop=True)


def frame_of_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """JSON loan rows as a tape (text columns, '' for missing or null)."""
    frame = pd.DataFrame(rows)
    frame = frame.astype(object).where(frame.notna(), "")
    frame = frame.map(lambda v: "" if v is None else (str(v).lower() if isinstance(v, bool)
                                                      else str(v)))
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"the loans lack the fields {', '.join(missing)}",
                        errors={"json": {c: ["missing field"] for c in missing}})
    return frame.reset_index(drop=True)


def _money_fen(text: str, *, positive: bool) -> int:
    value = Decimal(text)
    if not value.is_finite():
        raise ValueError("not a number")
    if value < 0 or (positive and value == 0):
        raise ValueError("must be greater than 0" if positive else "cannot be negative")
    if value > MAX_MONEY:  # before quantize, which cannot hold 1e400 to the fen
        raise ValueError(f"at most {MAX_MONEY:,}")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("at most 2 decimals")
    return int(value * 100)


def _rate_bps(text: str) -> int:
    value = Decimal(text)
    if not value.is_finite() or not 0 <= value <= 1 or value != value.quantize(Decimal("0.0001")):
        raise ValueError("a yearly rate between 0 and 1 with at most 4 decimals")
    return int(value * 10_000)


def _day(text: str, today: dt.date) -> dt.date:
    day = dt.date.fromisoformat(text.strip())
    if day > today:
        raise ValueError("lies in the future")
    return day


def _int(text: str, low: int, high: int) -> int:
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"must be between {low:,} and {high:,}")
    return value


def _loan_id(text: str) -> str:
    if len(text) > 64:
        raise ValueError("at most 64 characters")
    return text


def _status(text: str) -> str:
    if text not in STATUSES:
        raise ValueError(f"one of {', '.join(STATUSES)}")
    return text


def _check_row(raw: dict[str, str], today: dt.date, dealers: set[str]
               ) -> tuple[dict[str, Any], dict[str, str]]:
    """One tape row's loan fields typed, and its errors by field."""
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def field(name: str, parse: Callable[[str], Any], required: bool = True) -> None:
        text = str(raw.get(name, "") or "").strip()
        if not text:
            if required:
                errors[name] = "missing"
            out[name] = None
            return
        try:
            out[name] = parse(text)
        except ArithmeticError:  # decimal's InvalidOperation: not a number at all
            errors[name] = "not a number"
        except ValueError as exc:  # our own messages; int() and fromisoformat() say "not valid"
            ours = str(exc) and not str(exc).startswith(("invalid literal", "Invalid isoformat"))
            errors[name] = str(exc) if ours else "not valid"

    field("loan_id", _loan_id)
    field("application_id", lambda t: t[:64], required=False)
    field("dealer_id", str)
    if out.get("dealer_id") and out["dealer_id"] not in dealers:
        errors["dealer_id"] = "unknown dealer (add it with PUT /v1/dealers/{id})"
    field("funded_at", lambda t: _day(t, today))
    field("principal", lambda t: _money_fen(t, positive=True))
    field("term_months", lambda t: _int(t, 1, 120))
    field("annual_rate", _rate_bps)
    field("outstanding_balance", lambda t: _money_fen(t, positive=False))
    field("balance_date", lambda t: _day(t, today))
    field("status", _status)
    field("days_past_due", lambda t: _int(t, 0, 36_500), required=False)
    field("odometer_km", lambda t: _int(t, 0, 2_000_000), required=False)
    field("odometer_date", lambda t: _day(t, today), required=False)
    field("valuation_id", lambda t: t[:36], required=False)
    funded = out.get("funded_at")
    for name in ("balance_date", "odometer_date"):
        if funded and out.get(name) and out[name] < funded and name not in errors:
            errors[name] = "before funded_at"
    if (out.get("odometer_km") is None) != (out.get("odometer_date") is None):
        errors.setdefault("odometer_date", "odometer_km and odometer_date go together")
    return out, errors


def import_tape(session_factory: Callable[[], Session], predictor: Predictor | None,
                frame: pd.DataFrame, progress: Callable[[int, int], None] = lambda d, t: None
                ) -> dict[str, Any]:
    """Upsert the tape's good rows by loan_id, chunk by chunk (one transaction each); report
    {rows, inserted, updated, failed, errors: [{row, field, message}]}."""
    if predictor is None:
        raise ServiceUnavailable("no valuation model is loaded: loans are valued at funding")
    today = clock.today()
    with session_factory() as session:
        dealers = set(session.scalars(select(DealerRecord.id)))
    report: dict[str, Any] = {"rows": len(frame), "inserted": 0, "updated": 0, "failed": 0,
                              "errors": []}
    seen: dict[str, int] = {}
    for first in range(0, len(frame), CHUNK_ROWS):
        chunk = frame.iloc[first:first + CHUNK_ROWS]
        good = _check_chunk(session_factory, predictor, chunk, first, today, dealers, seen,
                            report)
        with session_factory() as session, session.begin():
            existing = {r.loan_id: r for r in session.scalars(
                select(LoanRecord).where(LoanRecord.loan_id.in_([g["loan_id"] for g in good])))}
            now = utcnow()
            for loan in good:
                record = existing.get(loan["loan_id"])
                if record is None:
                    session.add(LoanRecord(**loan, created_at=now, updated_at=now))
                    report["inserted"] += 1
                else:
                    for key, value in loan.items():
                        if key not in ("funded_vehicle_json", "funded_value", "funded_lending"):
                            setattr(record, key, value)
                    record.updated_at = now
                    report["updated"] += 1
        progress(min(first + CHUNK_ROWS, len(frame)), len(frame))
    report.pop("_failed_rows", None)
    report["errors"].sort(key=lambda e: e["row"])  # checks run in passes: back in row order
    return report


def _error(report: dict[str, Any], row: int, field: str, message: str) -> None:
    """Report a row's error; `failed` counts rows, whatever the number of their errors."""
    rows = report.setdefault("_failed_rows", set())
    if row not in rows:
        rows.add(row)
        report["failed"] += 1
    if len(report["errors"]) < MAX_ERRORS:
        report["errors"].append({"row": row, "field": field, "message": message})


def _check_chunk(session_factory: Callable[[], Session], predictor: Predictor,
                 chunk: pd.DataFrame, first: int, today: dt.date, dealers: set[str],
                 seen: dict[str, int], report: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunk's good rows as LoanRecord fields; bad rows go to the report."""
    rows = chunk.to_dict("records")
    typed, bad = _typed(rows, first, today, dealers, seen, report)
    stored = _stored_valuations(session_factory, [t.get("valuation_id") for t in typed])
    values: dict[int, tuple[dict[str, Any], int, int]] = {}
    for i, loan in enumerate(typed):  # a stored valuation gives the car and its value
        if i in bad or not loan.get("valuation_id"):
            continue
        if loan["valuation_id"] not in stored:
            _error(report, first + i + 1, "valuation_id", "no such valuation")
            bad.add(i)
            continue
        request, body = stored[loan["valuation_id"]]
        values[i] = (request, body["value"]["retail"], body["value"]["lending"])
    need = [i for i in range(len(rows)) if i not in bad and i not in values]
    values.update(_valued_at_funding(predictor, chunk, need, typed, first, today, report))
    out = []
    for i, (record, retail, lending) in sorted(values.items()):
        loan = {k: v for k, v in typed[i].items() if k not in ("principal", "annual_rate",
                                                              "outstanding_balance")}
        vehicle = json.dumps(record, ensure_ascii=False, sort_keys=True, default=str)
        out.append({**loan, "principal_fen": typed[i]["principal"],
                    "annual_rate_bps": typed[i]["annual_rate"],
                    "balance_fen": typed[i]["outstanding_balance"], "vehicle_json": vehicle,
                    "funded_vehicle_json": vehicle, "funded_value": retail,
                    "funded_lending": lending})
    return out


def _typed(rows: list[dict[str, Any]], first: int, today: dt.date, dealers: set[str],
           seen: dict[str, int], report: dict[str, Any]) -> tuple[list[dict[str, Any]], set[int]]:
    """Each row's loan fields typed, and the indexes of the rows with an error."""
    typed, bad = [], set()
    for i, raw in enumerate(rows):
        number = first + i + 1
        loan, errors = _check_row(raw, today, dealers)
        if loan.get("loan_id") in seen:
            errors["loan_id"] = f"repeats row {seen[loan['loan_id']]}"
        elif loan.get("loan_id"):
            seen[loan["loan_id"]] = number
        for name, message in errors.items():
            _error(report, number, name, message)
        if errors:
            bad.add(i)
        typed.append(loan)
    return typed, bad


def _valued_at_funding(predictor: Predictor, chunk: pd.DataFrame, need: list[int],
                       typed: list[dict[str, Any]], first: int, today: dt.date,
                       report: dict[str, Any]) -> dict[int, tuple[dict[str, Any], int, int]]:
    """The canonical record, value and lending value at funding of the rows `need` (rows
    whose car fails the canonical record go to the report)."""
    if not need:
        return {}
    columns = [c for c in VEHICLE if c in chunk.columns]
    cars = chunk.iloc[need][columns].reset_index(drop=True)
    checked = validate_frame(cars, training=False, today=today)
    messages = checked.messages().tolist()
    cars = cars.assign(valuation_date=[str(typed[i]["funded_at"]) for i in need])
    pred = predictor.predict(cars, today=today)
    out = {}
    for j, i in enumerate(need):
        message = messages[j] or pred["error"].iloc[j]
        if message:
            _error(report, first + i + 1, "vehicle", str(message))
            continue
        record = stored_record(cars.iloc[j].to_dict(), checked.frame.iloc[j].to_dict())
        retail = whole_units(pred["value"].iloc[j])
        out[i] = (record, retail,
                  min(whole_units(pred["value_low"].iloc[j]), retail))
    return out


def _stored_valuations(session_factory: Callable[[], Session], ids: list[str | None]
                       ) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    with session_factory() as session:
        records = session.scalars(select(ValuationRecord).where(ValuationRecord.id.in_(wanted)))
        return {r.id: ({k: v for k, v in json.loads(r.request_json).items()
                        if k in VEHICLE and v is not None}, json.loads(r.response_json))
                for r in records}


def stored_record(given: dict[str, Any], typed: dict[str, Any]) -> dict[str, Any]:
    """A car as the loan book stores it: numbers and flags as validation typed them (a tape's
    "85" is stored as 85, so that a monitoring run reads a whole chunk's cars in one pass of
    Arrow's JSON reader), texts and dates as given (a date keeps its precision); the fields
    not given are left out."""
    record = {}
    for name, value in given.items():
        field = FIELD_BY_NAME.get(name)
        if field is None or name == "valuation_date" or _plain(value) is None:
            continue
        if field.kind in ("int", "float", "bool"):
            value = typed[name]
            if value is None or value is pd.NA or value != value:
                continue
            value = {"int": int, "float": float, "bool": bool}[field.kind](value)
        record[name] = value
    return record


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    return value


def money(fen: int) -> str:
    """Fen as a decimal text with 2 places (what the API shows)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def bps_text(value: int | None) -> str | None:
    """Basis points as a ratio text ("0.7312"), None as None."""
    return None if value is None else ratio_text(value)


def get(session: Session, loan_id: str) -> dict[str, Any]:
    """A loan with its revaluation history (newest run first)."""
    loan = session.get(LoanRecord, loan_id)
    if loan is None:
        raise NotFound(f"no loan {loan_id}")
    history = session.execute(
        select(LoanRevaluationRecord, MonitoringRunRecord.as_of)
        .join(MonitoringRunRecord, MonitoringRunRecord.id == LoanRevaluationRecord.run_id)
        .where(LoanRevaluationRecord.loan_id == loan_id)
        .order_by(MonitoringRunRecord.as_of.desc(), MonitoringRunRecord.created_at.desc()))
    return {
        "loan_id": loan.loan_id, "application_id": loan.application_id,
        "dealer_id": loan.dealer_id, "funded_at": str(loan.funded_at),
        "principal": money(loan.principal_fen), "term_months": loan.term_months,
        "annual_rate": str(Decimal(loan.annual_rate_bps) / 10_000),
        "outstanding_balance": money(loan.balance_fen), "balance_date": str(loan.balance_date),
        "status": loan.status, "days_past_due": loan.days_past_due,
        "odometer_km": loan.odometer_km,
        "odometer_date": str(loan.odometer_date) if loan.odometer_date else None,
        "valuation_id": loan.valuation_id, "vehicle": json.loads(loan.vehicle_json),
        "funded": {"value": loan.funded_value, "lending": loan.funded_lending},
        "revaluations": [
            {"run_id": r.run_id, "as_of": str(as_of), "value": r.value, "lending": r.lending,
             "ltv": bps_text(r.ltv_bps),
             "since_funding": {
                 "value": None if r.value is None else r.value - loan.funded_value,
                 "lending": None if r.lending is None else r.lending - loan.funded_lending,
                 "value_change": bps_text(r.value_change_bps), "ltv_change": bps_text(r.ltv_change_bps)},
             "since_previous_run": {"value_change": bps_text(r.value_change_prev_bps),
                                    "ltv_change": bps_text(r.ltv_change_prev_bps)},
             "grade": r.grade, "action": r.action,
             "rules": json.loads(r.rules_json) if r.rules_json else [], "error": r.error}
            for r, as_of in history],
    }
