"""The valuation service: values cars with range, confidence, breakdown and residuals; stores
every valuation (request, exact response, model, caller) and reads it back."""
from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from .. import clock
from ..errors import InvalidInput, NotFound, ServiceUnavailable
from ..model import explain
from ..model.predictor import Predictor, collector_paused
from ..model.record import NAMES, field_errors, validate_frame, validate_record
from ..model.single import value_one
from ..store.tables import ValuationRecord, core, utcnow
from .keys import Principal

MAX_JSON_BATCH = 1_000
MAX_CSV_BATCH = 50_000
# Fewer rows than this are valued one by one on the single-car path, more by the vectorised
# path, whose fixed cost (pandas on every column, two CatBoost pools) is about 65 ms whatever
# the rows: measured with the demo model, 20 cars took 68 ms vectorised and 15 ms one by one,
# 64 cars 79 ms and 46 ms, and the two paths cost the same at about 100 cars. Both give the same
# bodies and errors (tests/valuation/model/test_single.py, services/test_valuation_batches.py).
SINGLE_PATH_BELOW = 64


def whole_units(x: float) -> int:
    """Whole currency units, half away from zero (the rounding every response uses, as
    `explain.compose` does for the breakdown)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def whole_units_array(values: np.ndarray) -> np.ndarray:
    """`whole_units` of every value (the same floating-point steps, so the same integers)."""
    return np.copysign(np.floor(np.abs(values) + 0.5), values).astype(np.int64)


def _body(predictor: Predictor, valuation_date: dt.date, low_units: int, high_units: int,
          confidence: float, level: str, reasons: list[str], warnings: list[str],
          parts: dict[str, Any], future_units: list[int]) -> dict[str, Any]:
    """The valuation body (without id) from amounts in whole units: retail is the breakdown's
    rounded total, and the range and the residuals never cross it."""
    retail = parts["total"]
    low, high = min(low_units, retail), max(high_units, retail)
    return {
        "valuation_date": str(valuation_date),
        "currency": predictor.card["currency"],
        "model": predictor.ref,
        "value": {"retail": retail, "low": low, "high": high, "lending": low},
        "confidence": {"score": round(float(confidence), 3), "level": level,
                       "reasons": list(reasons)},
        "breakdown": {"base": parts["base"], "adjustments": parts["adjustments"]},
        "residuals": [{"months": m, "value": min(v, retail)}
                      for m, v in zip(explain.RESIDUAL_MONTHS, future_units, strict=True)],
        "warnings": list(warnings),
    }


def _learned(predictor: Predictor) -> dict[str, bool]:
    return {f: not spec["applied"] for f, spec in predictor.card["priors"].items()}


def value_car(predictor: Predictor, car: dict[str, Any], today: dt.date | None = None
              ) -> dict[str, Any]:
    """One car on the plain-Python hot path (`model.single`): the body, or {'error': {...}}."""
    one = value_one(predictor, car, today)
    if isinstance(one, str):
        return {"error": {"message": one}}
    parts = explain.compose(one.stages.reshape(-1, 1), _learned(predictor))[0]
    return _body(predictor, one.valuation_date, whole_units(one.low), whole_units(one.high),
                 one.confidence, one.level, one.reasons, one.warnings, parts,
                 [whole_units(v) for v in one.residuals.tolist()])


@collector_paused()
def value_cars(predictor: Predictor, cars: pd.DataFrame,
               today: dt.date | None = None) -> list[dict[str, Any]]:
    """One result per row (the vectorised path for batches): the valuation body (without id)
    or {'error': {...}}."""
    cars = cars.reset_index(drop=True)
    canonical = cars[[c for c in NAMES if c in cars.columns and c != "price"]]
    pred, completed = predictor.predict_with_rows(canonical, today=today)
    ok = pred["error"].isna().to_numpy()
    results: list[dict[str, Any]] = [{"error": {"message": e}} if e else {} for e in pred["error"]]
    if not ok.any():
        return results
    rows = completed[ok].reset_index(drop=True)
    chosen = pred[ok]
    stage_cols = [c for c in NAMES if c != "price"]
    km_year = float(predictor.profile["median_km_per_year"])
    built, where = explain.counterfactual_rows(rows[stage_cols], predictor.profile["defaults"],
                                               km_year)
    parts, future = explain.explained(predictor.point_values(built), where,
                                      chosen["value"].to_numpy(), _learned(predictor))
    columns = zip(rows["valuation_date"].dt.date.tolist(),
                  whole_units_array(chosen["value_low"].to_numpy(dtype="float64")).tolist(),
                  whole_units_array(chosen["value_high"].to_numpy(dtype="float64")).tolist(),
                  chosen["confidence"].tolist(), chosen["confidence_level"].tolist(),
                  chosen["reasons"].tolist(), chosen["warnings"].tolist(), parts,
                  whole_units_array(future).tolist(), strict=True)
    for idx, (day, low, high, score, level, why, warn, part, later) in zip(
            np.flatnonzero(ok), columns, strict=True):
        results[idx] = _body(predictor, day, low, high, score, level, why, warn, part, later)
    return results


_INSERT = insert(core(ValuationRecord))


def json_text(value: Any) -> str:
    """Compact JSON text with non-ASCII characters as they are, by orjson (about a tenth of
    `json.dumps`' time: a valuation body takes 1.2 us, not 17); a value orjson refuses (an
    integer beyond 64 bits, a type it does not know: written as `str`) by `json.dumps`, in the
    same compact form."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _row(principal: Principal, predictor: Predictor, request: dict[str, Any],
         result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored row of one valuation (its `response_json` is the exact response text) and
    the response body."""
    valuation_id = str(uuid.uuid4())
    created = utcnow()
    body = {"id": valuation_id, **result, "vin": request.get("vin"),
            "external_ref": request.get("external_ref"),
            "created_at": created.isoformat(timespec="seconds")}
    row = {"id": valuation_id, "created_at": created, "actor": principal.name,
           "key_prefix": principal.prefix, "dealer_id": principal.dealer_id,
           "model_name": predictor.ref["name"], "model_version": predictor.ref["version"],
           "vin": request.get("vin"), "external_ref": request.get("external_ref"),
           "request_json": json_text(request), "response_json": json_text(body)}
    return row, body


def _insert(conn: Session | Connection, rows: list[dict[str, Any]]) -> None:
    """One Core INSERT (executemany for a batch): no ORM unit of work on the hot path."""
    if rows:
        (conn.connection() if isinstance(conn, Session) else conn).execute(_INSERT, rows)


def value_request(predictor: Predictor | None, principal: Principal, request: dict[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Value one validated request: the row to store (its `response_json` is the exact
    response text) and the body; 422 for a car the model cannot value."""
    predictor = _require_model(predictor)
    result = value_car(predictor, request)
    if "error" in result:
        raise InvalidInput(result["error"]["message"], errors={"json": {
            "_schema": [result["error"]["message"]]}})
    return _row(principal, predictor, request, result)


def value_batch(predictor: Predictor | None, principal: Principal,
                requests: list[dict[str, Any]], row_errors: dict[int, Any] | None = None
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Value many rows (one car at a time below SINGLE_PATH_BELOW valid rows, else
    vectorised); one bad row never fails the batch. `row_errors` are rows that already failed
    validation at the edge (their index -> errors). Returns the results in row order and the
    rows to store."""
    predictor = _require_model(predictor)
    row_errors = row_errors or {}
    good = [i for i in range(len(requests)) if i not in row_errors]
    today = clock.today()  # one valuation date for the whole batch, whichever the path
    if len(good) < SINGLE_PATH_BELOW:
        values = [value_car(predictor, requests[i], today) for i in good]
    else:
        values = value_cars(predictor, pd.DataFrame([requests[i] for i in good]), today)
    out: list[dict[str, Any]] = [{"row": i, "errors": row_errors[i]} for i in range(len(requests))
                                 if i in row_errors]
    stored: list[dict[str, Any]] = []
    for i, result in zip(good, values, strict=True):
        if "error" in result:
            out.append({"row": i, "errors": {"_schema": [result["error"]["message"]]}})
        else:
            row, body = _row(principal, predictor, requests[i], result)
            stored.append(row)
            out.append({"row": i, **body})
    return sorted(out, key=lambda r: r["row"]), stored


def rows_of_csv(frame: pd.DataFrame) -> tuple[list[dict[str, Any]], dict[int, Any]]:
    """The rows of an uploaded CSV (text columns) as requests, and the validation errors of
    the bad ones (their index -> errors by field, in a JSON row's words: `field_errors`),
    checked by the canonical record's rules (row by row below SINGLE_PATH_BELOW rows, else
    vectorised: the same reasons)."""
    rows = frame.replace({"": None}).to_dict("records")
    if len(rows) < SINGLE_PATH_BELOW:  # as value_batch: row by row costs less than pandas
        today = clock.today()
        reasons = [validate_record(row, today)[1] for row in rows]
    else:
        reasons = validate_frame(frame, training=False).reasons.tolist()
    return rows, {i: field_errors(rows[i], r) for i, r in enumerate(reasons) if r}


def store(conn: Session | Connection, rows: list[dict[str, Any]]) -> None:
    """Store valuations (one Core INSERT, executemany for a batch)."""
    _insert(conn, rows)


NOT_STORED = "not stored: the database is unavailable, so this valuation has no id"


def unstored(body: dict[str, Any]) -> dict[str, Any]:
    """A valuation body that could not be stored: `id` null and a warning; the value stands."""
    return {**body, "id": None, "warnings": [*body.get("warnings", []), NOT_STORED]}


def create(conn: Session | Connection, predictor: Predictor | None, principal: Principal,
           request: dict[str, Any]) -> tuple[str, str]:
    """Value one validated request, store it, return (id, exact response text)."""
    row, _ = value_request(predictor, principal, request)
    _insert(conn, [row])
    return row["id"], row["response_json"]


def get(session: Session, principal: Principal, valuation_id: str) -> str:
    """The stored response text; a dealer sees only its own (others are 404, no leak)."""
    record = session.scalar(select(ValuationRecord).where(ValuationRecord.id == valuation_id))
    if record is None or (principal.role == "dealer" and record.dealer_id != principal.dealer_id):
        raise NotFound(f"no valuation {valuation_id}")
    return record.response_json


def _require_model(predictor: Predictor | None) -> Predictor:
    if predictor is None:
        raise ServiceUnavailable("no valuation model is loaded; see /ready")
    return predictor
