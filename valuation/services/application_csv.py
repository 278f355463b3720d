"""Past applications from a CSV file, for simulation: every column typed by the canonical
record's own parsers (booleans accept true/false, yes/no, 1/0 and nothing else), unknown tokens
and missing columns refused with the row and column, never guessed."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

import pandas as pd

from strategies.frame import COLUMNS

from .. import clock
from ..errors import InvalidInput
from ..model.predictor import Predictor
from ..model.record import FIELD_BY_NAME, Field, earliest_date, parse_column
from . import csv_text

MAX_CSV_ROWS = 200_000
REQUIRED = ("declared_price", "down_payment", "term_months", "annual_rate", "is_new",
            "energy_type", "first_registration", "mileage_km", "monthly_income",
            "flood_damage", "fire_damage")
OPTIONAL_TEXT = ("usage", "customer_tier", "dealer_tier", "product")
NUMBERS = {"declared_price": True, "down_payment": True, "term_months": True,
           "monthly_income": True, "monthly_debt_payments": True, "customer_score": True,
           "valuation": True, "mileage_km": False}  # column -> whole number


def _refuse(column: str, message: str) -> InvalidInput:
    return InvalidInput(f"{column}: {message}", errors={"files": {"file": [f"{column}: {message}"]}})


def _typed(frame: pd.DataFrame, column: str, kind: str) -> pd.Series:
    values, bad = parse_column(frame[column], FIELD_BY_NAME.get(column, Field(column, kind)))
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise _refuse(column, f"row {row}: {frame[column][row]!r} is not a valid {kind} "
                              f"({int(bad.sum())} rows)")
    return values


def _read(data: bytes) -> pd.DataFrame:
    try:
        frame = csv_text.text_frame(data)
    except ValueError as exc:  # not text, or not CSV (pandas' ParserError is a ValueError)
        raise InvalidInput("unreadable CSV", errors={"files": {"file": [str(exc)[:200]]}}) from exc
    if len(frame) > MAX_CSV_ROWS:
        raise _refuse("file", f"at most {MAX_CSV_ROWS:,} rows")
    frame = frame.replace({"": None})
    needed = list(REQUIRED) + (["confidence_level"] if "valuation" in frame.columns else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise _refuse("file", f"missing columns: {', '.join(missing)} (risk facts are never "
                              "assumed)")
    return frame


def _rate(text: object) -> Decimal:
    try:
        return Decimal(str(text))
    except InvalidOperation as exc:
        raise _refuse("annual_rate", f"{text!r} is not a number") from exc


def csv_applications(data: bytes, predictor: Predictor | None) -> tuple[pd.DataFrame, pd.Series]:
    """Typed applications and their ids; without a `valuation` column the cars are valued
    now by the served model."""
    raw = _read(data)
    out = pd.DataFrame(index=raw.index)
    for column in ("is_new", "flood_damage", "fire_damage"):
        values = _typed(raw, column, "bool")
        if values.isna().any():
            raise _refuse(column, f"row {int(values.isna().to_numpy().nonzero()[0][0])}: empty")
        out[column] = values.astype(bool)
    for column, whole in NUMBERS.items():
        if column in raw.columns:
            out[column] = _typed(raw, column, "int" if whole else "float")
        else:
            out[column] = 0 if column == "monthly_debt_payments" else None
    out["energy_type"] = _typed(raw, "energy_type", "enum")
    out["usage"] = _typed(raw, "usage", "enum") if "usage" in raw.columns else None
    _typed(raw, "first_registration", "date")
    out["first_registration"] = raw["first_registration"].map(earliest_date)
    decided = _typed(raw, "decision_date", "date") if "decision_date" in raw.columns else None
    out["decision_date"] = (decided.dt.date if decided is not None else clock.today())
    out["annual_rate"] = raw["annual_rate"].map(_rate)
    for column in OPTIONAL_TEXT:
        out[column] = raw[column] if column in raw.columns else None
    if "valuation" in raw.columns:
        out["confidence_level"] = raw["confidence_level"]
    else:
        if predictor is None:
            raise _refuse("valuation", "no model is served to value the cars; add valuation and "
                                       "confidence_level columns")
        pred = predictor.predict(raw)
        bad = pred["error"].notna()
        if bad.any():
            first = int(bad.to_numpy().nonzero()[0][0])
            raise _refuse("file", f"{int(bad.sum())} rows cannot be valued (row {first}: "
                                  f"{pred['error'][first]})")
        out["valuation"] = pred["value"].round(0).astype("int64")
        out["confidence_level"] = pred["confidence_level"]
    out = out.astype(object).where(out.notna(), None)
    ids = raw["application_id"] if "application_id" in raw.columns else pd.Series(range(len(raw)))
    return out[list(COLUMNS)], ids
