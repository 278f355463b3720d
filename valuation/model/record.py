"""The canonical vehicle record (DESIGN.md): field names, types, enums, units and row validation."""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import clock

ENUMS: dict[str, tuple[str, ...]] = {
    "body_type": ("sedan", "hatchback", "suv", "mpv", "coupe", "convertible", "wagon",
                  "pickup", "van", "truck", "other"),
    "energy_type": ("petrol", "diesel", "hev", "phev", "erev", "bev", "fcev", "gas", "other"),
    "transmission": ("manual", "automatic", "other"),
    "accident": ("none", "minor", "structural"),
    "usage": ("private", "commercial", "ride_hailing", "rental", "other"),
}
NEV_ENERGY = frozenset({"bev", "phev", "erev", "fcev"})
COMMERCIAL_USAGE = frozenset({"commercial", "ride_hailing"})
MAX_MILEAGE_KM = 2_000_000
# Above this yearly distance a car's odometer is not believable (a taxi does about 100,000 km/yr).
MAX_KM_PER_YEAR = 250_000
YEAR_RANGE = (1678, 2261)  # dates pandas can hold; any other year is an invalid date


@dataclass(frozen=True)
class Field:
    """One canonical field: its type, whether it is required, bounds and unit."""

    name: str
    kind: str  # str | enum | int | float | date | bool
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False  # strictly greater than zero
    doc: str = ""


FIELDS: tuple[Field, ...] = (
    Field("brand", "str", required=True, doc="make, e.g. 比亚迪, Tesla, Ford"),
    Field("series", "str", required=True, doc="model line (车系), e.g. 汉, Model 3"),
    Field("variant", "str", doc="trim / 款型 text"),
    Field("model_year", "int", minimum=1900, maximum=2100, doc="款 year"),
    Field("body_type", "enum"),
    Field("energy_type", "enum", required=True),
    Field("transmission", "enum"),
    Field("displacement_l", "float", minimum=0, maximum=10, doc="litres"),
    Field("power_kw", "float", minimum=0, maximum=2000, doc="kW"),
    Field("battery_kwh", "float", minimum=0, maximum=300, doc="NEV pack size, kWh"),
    Field("range_km", "float", minimum=0, maximum=2000, doc="rated electric range, km"),
    Field("battery_soh_pct", "float", minimum=0, maximum=100, doc="battery state of health, %"),
    Field("fuel_consumption_l100km", "float", minimum=0, maximum=50,
          doc="official combined fuel consumption, L/100 km (工信部综合油耗, WLTP/NEDC combined)"),
    Field("seats", "int", minimum=1, maximum=60, doc="seating capacity (座位数)"),
    Field("length_mm", "float", minimum=1_500, maximum=20_000, doc="body length, mm (车身长)"),
    Field("width_mm", "float", minimum=1_000, maximum=3_000, doc="body width, mm (车身宽)"),
    Field("height_mm", "float", minimum=1_000, maximum=5_000, doc="body height, mm (车身高)"),
    Field("new_price", "float", positive=True, doc="new-car guide price, model currency"),
    Field("first_registration", "date", required=True, doc="YYYY-MM-DD, YYYY-MM or YYYY"),
    Field("valuation_date", "date", doc="sale/listing date; required for training"),
    Field("mileage_km", "float", required=True, minimum=0, maximum=MAX_MILEAGE_KM, doc="km"),
    Field("transfer_count", "int", minimum=0, maximum=50, doc="ownership transfers (过户次数)"),
    Field("condition_score", "float", minimum=0, maximum=100, doc="GB/T 30323 score"),
    Field("accident", "enum"),
    Field("flood_damage", "bool"),
    Field("fire_damage", "bool"),
    Field("usage", "enum"),
    Field("region", "str", doc="city or province"),
    Field("color", "str"),
    Field("price", "float", positive=True, doc="training target, model currency"),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}
NAMES = tuple(f.name for f in FIELDS)

_TRUE = {"true", "1", "yes", "y", "t"}


def is_true(value: object) -> bool:
    """A stored or typed flag (True, "true", "1", "yes", ...) as a bool; anything else False."""
    return str(value).strip().lower() in _TRUE

_FALSE = {"false", "0", "no", "n", "f"}


@dataclass
class Validated:
    """Typed canonical frame plus, per row, the list of reasons it is invalid (empty when valid)."""

    frame: pd.DataFrame
    reasons: pd.Series  # list[str] per row

    @property
    def valid(self) -> pd.Series:
        return self.reasons.map(len) == 0

    def messages(self) -> pd.Series:
        """One '; '-joined error text per row, '' for valid rows."""
        return self.reasons.map("; ".join)

    def reason_counts(self) -> dict[str, int]:
        """Rows per reason (a row with two problems counts under both)."""
        counts: dict[str, int] = {}
        for row in self.reasons:
            for reason in row:
                counts[reason] = counts.get(reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def earliest_date(text: str) -> dt.date:
    """The earliest day a date of any accepted precision can mean: YYYY is 1 January, YYYY-MM
    the 1st. Hard rules take this worst case; the valuation model takes mid-period."""
    text = str(text).strip()[:10]
    if len(text) == 4:
        return dt.date(int(text), 1, 1)
    if len(text) == 7:
        return dt.date(int(text[:4]), int(text[5:7]), 1)
    return dt.date.fromisoformat(text)


def model_date(text: str) -> dt.date:
    """The day the model takes for a valid date text: YYYY is 1 July, YYYY-MM the 15th."""
    day, _ = _date_value(text)
    assert day is not None
    return day


def model_day(value: Any) -> dt.date | None:
    """`model_date` of a value that may not be a valid date: None when it is not one."""
    return _date_value(value)[0]


def normalize_date(text: str) -> str | None:
    """The text of a valid date at the precision it was given (YYYY, YYYY-MM or YYYY-MM-DD),
    or None if it is not one."""
    day, _ = _date_value(text)
    return None if day is None else str(text).strip()[:10]


def parse_column(col: pd.Series, field: Field) -> tuple[pd.Series, pd.Series]:
    """Typed column and a mask of present-but-invalid values, by the single-record rules:
    dates, numbers and booleans that are already typed are checked vectorised; anything else
    is parsed once per distinct text by `parse_value` (plain YYYY-MM-DD dates by pandas at
    once, with the same answers) and spread back to the rows: a batch repeats brands, enums
    and dates."""
    if field.kind == "date" and pd.api.types.is_datetime64_dtype(col.dtype):
        # already dates: the day, no parsing
        return col.dt.normalize().astype("datetime64[ns]"), pd.Series(False, index=col.index)
    numeric = (pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype))
    if field.kind in ("int", "float") and numeric:  # already numbers: skip the text round trip
        return _bounded(col, field)
    if field.kind == "bool" and pd.api.types.is_bool_dtype(col.dtype):  # already booleans
        return col.astype("boolean"), pd.Series(False, index=col.index)
    if isinstance(col.dtype, pd.StringDtype):  # only texts: factorize them as they are
        codes, uniques = pd.factorize(col.to_numpy(dtype=object), use_na_sentinel=True)
    else:  # keyed by text, as `parse_value` reads a value (factorize alone takes True for 1)
        codes, uniques = pd.factorize(col.astype(str).where(col.notna()), use_na_sentinel=True)
    rows = np.where(codes < 0, len(uniques), codes)
    if field.kind == "date":
        days, bad = _date_column(np.asarray(uniques, dtype=object))
        return (pd.Series(np.append(days, np.datetime64("NaT"))[rows], index=col.index),
                pd.Series(np.append(bad, False)[rows], index=col.index))
    parsed = [parse_value(u, field) for u in uniques]
    values = np.array([v for v, _ in parsed] + [None], dtype=object)
    bad = np.array([b for _, b in parsed] + [False], dtype=bool)
    if field.kind in ("str", "enum"):  # pandas categoricals: a batch repeats its texts
        # two texts may read the same (" BYD" and "BYD"; enums in any case): one category
        text_at, texts = pd.factorize(values, use_na_sentinel=True)
        typed = pd.Series(pd.Categorical.from_codes(text_at[rows], texts, validate=False),
                          index=col.index)
    else:
        typed = pd.Series(values[rows], dtype=_DTYPES[field.kind], index=col.index)
    return typed, pd.Series(bad[rows], index=col.index)


def _absent(field: Field, index: pd.Index) -> pd.Series:
    """`parse_column` of a column the caller did not send: every value missing, typed."""
    if field.kind in ("int", "float"):
        return pd.Series(np.full(len(index), np.nan), index=index)
    if field.kind == "date":
        return pd.Series(np.full(len(index), np.datetime64("NaT"), dtype="datetime64[ns]"),
                         index=index)
    if field.kind in ("str", "enum"):
        return pd.Series(pd.Categorical.from_codes(np.full(len(index), -1), []), index=index)
    return pd.Series(pd.NA, index=index, dtype=_DTYPES[field.kind])


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date_column(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`parse_value` of distinct date texts as (datetime64[ns] days, present but invalid):
    plain YYYY-MM-DD texts (most of a batch) are parsed at once (by numpy; by pandas when one
    of them is no calendar day, such as 2021-02-30), every other text by `_date_value`. Same
    answers."""
    days = np.full(len(texts), np.datetime64("NaT"), dtype="datetime64[ns]")
    bad = np.zeros(len(texts), dtype=bool)
    iso = np.fromiter((_ISO_DAY.fullmatch(t) is not None for t in texts), dtype=bool,
                      count=len(texts))
    plain = texts[iso]
    years = np.fromiter((int(t[:4]) for t in plain), dtype=np.int64, count=len(plain))
    in_range = (years >= YEAR_RANGE[0]) & (years <= YEAR_RANGE[1])  # before pandas sees them
    parsed = np.full(len(plain), np.datetime64("NaT"), dtype="datetime64[ns]")
    try:
        parsed[in_range] = np.array(plain[in_range].tolist(), dtype="datetime64[D]")
    except ValueError:  # a day that does not exist: NaT for it, through pandas
        parsed[in_range] = pd.to_datetime(pd.Series(plain[in_range], dtype=object),
                                          format="%Y-%m-%d", errors="coerce")
    ok = ~np.isnat(parsed)
    days[iso] = parsed
    bad[iso] = ~ok
    for i in np.flatnonzero(~iso):
        day, bad[i] = _date_value(texts[i])
        if day is not None:
            days[i] = np.datetime64(day, "ns")
    return days, bad


_DTYPES = {"date": "datetime64[ns]", "str": "string", "enum": "string", "bool": "boolean",
           "int": "float64", "float": "float64"}


def _bounded(number: pd.Series, field: Field) -> tuple[pd.Series, pd.Series]:
    """A numeric column checked for finiteness, whole-number kind and the field's bounds
    (numpy: a batch checks each numeric column in microseconds)."""
    x = number.to_numpy(dtype="float64", na_value=np.nan)
    given = ~np.isnan(x)
    finite = np.isfinite(x)
    safe = np.where(finite, x, 0.0)
    wrong = ~finite
    if field.kind == "int":
        wrong |= safe != np.floor(safe)
    if field.minimum is not None:
        wrong |= safe < field.minimum
    if field.maximum is not None:
        wrong |= safe > field.maximum
    if field.positive:
        wrong |= finite & (safe <= 0)
    bad = given & wrong
    return (pd.Series(np.where(bad, np.nan, x), index=number.index),
            pd.Series(bad, index=number.index))


def _text(value: Any) -> str | None:
    """A value as the frame path reads it: stripped text, None when absent."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value).strip()


def _date_value(value: Any) -> tuple[dt.date | None, bool]:
    """A date of any accepted precision (YYYY-MM-DD; YYYY-MM is the 15th, YYYY 1 July):
    (date, present but invalid)."""
    text = _text(value)
    if not text:
        return None, False
    text = text[:10]
    if not text[:4].isdigit() or not YEAR_RANGE[0] <= int(text[:4]) <= YEAR_RANGE[1]:
        return None, True
    try:
        if len(text) == 10 and text[4] == "-" and text[7] == "-" and text.replace("-", "").isdigit():
            return dt.date(int(text[:4]), int(text[5:7]), int(text[8:])), False
        if len(text) == 7 and text[4] == "-" and text.replace("-", "").isdigit():
            return dt.date(int(text[:4]), int(text[5:7]), 15), False
        if len(text) == 4 and text.isdigit():
            return dt.date(int(text), 7, 1), False
    except ValueError:
        pass
    return None, True


def _number(text: str) -> float | None:
    if "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_value(value: Any, field: Field) -> tuple[Any, bool]:
    """`parse_column` for one value: (typed value or None, present but invalid)."""
    if field.kind == "date":
        return _date_value(value)
    text = _text(value)
    if text is None or text == "" or text.lower() == "nan":
        return None, False
    if field.kind == "str":
        return text, False
    if field.kind == "enum":
        return (text.lower(), False) if text.lower() in ENUMS[field.name] else (None, True)
    if field.kind == "bool":
        low = text.lower()
        return (True, False) if low in _TRUE else ((False, False) if low in _FALSE else (None, True))
    number = _number(text)
    if number is None or not math.isfinite(number):
        return None, True
    bad = (field.kind == "int" and number != math.floor(number)) or \
        (field.minimum is not None and number < field.minimum) or \
        (field.maximum is not None and number > field.maximum) or (field.positive and number <= 0)
    return (None, True) if bad else (number, False)


def validate_record(raw: dict[str, Any], today: dt.date | None = None
                    ) -> tuple[dict[str, Any], list[str]]:
    """`validate_frame(training=False)` for one record, in plain Python (the hot path of a
    single valuation): the typed canonical fields and the reasons the record is invalid, in the
    same order and words. A test holds the two paths to the same answer."""
    today = today or clock.today()
    typed: dict[str, Any] = {}
    reasons: list[str] = []
    for field in FIELDS:
        value, bad = parse_value(raw.get(field.name), field)
        if field.name == "valuation_date" and value is None and not bad:
            value = today
        typed[field.name] = value
        if field.required and value is None and not bad:
            reasons.append(f"missing {field.name}")
        if bad:
            reasons.append(f"invalid {field.name}")
    reg, val = typed["first_registration"], typed["valuation_date"]
    if val is not None and val > today:
        reasons.append("valuation date in the future")
    if reg is not None and reg > today:
        reasons.append("registration in the future")
    after = reg is not None and val is not None and reg > val
    if after:
        reasons.append("registration after valuation date")
    if reg is not None and val is not None and typed["mileage_km"] is not None and not after:
        years = max((val - reg).days / 365.25, 1 / 12)
        if typed["mileage_km"] / years > MAX_KM_PER_YEAR:
            reasons.append("impossible mileage")
    return typed, reasons


def validate_frame(raw: pd.DataFrame, *, training: bool,
                   today: dt.date | None = None) -> Validated:
    """Type every canonical field and list each row's problems.

    Training rows need `price` and `valuation_date`; elsewhere `valuation_date`
    defaults to `today` (the business date) and neither it nor the registration may lie after
    `today`: the API's JSON and CSV paths refuse the same rows. Columns that are not canonical
    fields pass through untouched.
    """
    today = today or clock.today()
    raw = raw.reset_index(drop=True)
    typed: dict[str, pd.Series] = {}
    flags: dict[str, np.ndarray] = {}
    for field in FIELDS:
        if field.name in raw.columns:
            col = raw[field.name]
            value, bad_column = parse_column(col, field)
            bad = bad_column.to_numpy(dtype=bool)
        else:
            value, bad = _absent(field, raw.index), np.zeros(len(raw), dtype=bool)
        if field.name == "valuation_date" and not training:
            value = value.fillna(pd.Timestamp(today))
        typed[field.name] = value
        required = field.required or (training and field.name in ("price", "valuation_date"))
        if required:
            flags[f"missing {field.name}"] = value.isna().to_numpy() & ~bad
        if field.name == "price" and training and field.name in raw.columns:
            not_positive = bad & (pd.to_numeric(col, errors="coerce") <= 0).fillna(False).to_numpy()
            flags["price <= 0"] = not_positive
            bad = bad & ~not_positive
        flags[f"invalid {field.name}"] = bad
    # the caller's other columns pass through, the canonical ones are replaced by typed ones
    frame = pd.concat([raw.drop(columns=[c for c in raw.columns if c in FIELD_BY_NAME]),
                       pd.DataFrame(typed, index=raw.index)], axis=1)
    reg = typed["first_registration"].to_numpy()
    val = typed["valuation_date"].to_numpy()
    if not training:
        now = np.datetime64(today, "ns")
        flags["valuation date in the future"] = val > now  # NaT compares False
        flags["registration in the future"] = reg > now
    after = reg > val
    flags["registration after valuation date"] = after
    gap = val - reg
    days = np.where(np.isnat(gap), np.nan, gap.astype("timedelta64[D]").astype("float64"))
    years = np.maximum(days / 365.25, 1 / 12)
    with np.errstate(invalid="ignore"):
        too_far = typed["mileage_km"].to_numpy(dtype="float64") / years > MAX_KM_PER_YEAR
    flags["impossible mileage"] = too_far & ~after
    rows: list[list[str]] = [[] for _ in range(len(frame))]
    for reason, mask in flags.items():
        for i in np.flatnonzero(mask):
            rows[i].append(reason)
    reasons = pd.Series(rows, index=frame.index, dtype=object)
    return Validated(frame=frame, reasons=reasons)


# The words of the API's JSON errors for the rules both edges check (`http/schemas.py` raises
# these for a JSON body; `field_errors` gives them to a CSV row), so that a dealer app reads a
# bad row the same way whichever way it sent it.
MISSING = "Missing data for required field."
NOT_A_DATE = "Not a date: use YYYY-MM-DD, YYYY-MM or YYYY."
REGISTRATION_IN_FUTURE = "Registration is in the future."
VALUATION_IN_FUTURE = "Valuation date is in the future."
REGISTRATION_AFTER_VALUATION = "Registration is after the valuation date."
IMPOSSIBLE_MILEAGE = (f"Mileage is impossible for the car's age (over {MAX_KM_PER_YEAR:,} km a "
                      "year).")
_CROSS_FIELD = {"registration in the future": ("first_registration", REGISTRATION_IN_FUTURE),
                "valuation date in the future": ("valuation_date", VALUATION_IN_FUTURE),
                "registration after valuation date": ("first_registration",
                                                      REGISTRATION_AFTER_VALUATION),
                "impossible mileage": ("mileage_km", IMPOSSIBLE_MILEAGE)}


def field_errors(raw: dict[str, Any], reasons: list[str]) -> dict[str, list[str]]:
    """A record's reasons (`validate_record`, `validate_frame`) as the API's JSON errors: by
    field, in the words marshmallow uses for the same value in a JSON body ("Missing data for
    required field.", "Not a valid number.", "Must be one of: ...", the range). `raw` is the
    record as given, read again only to tell a value that is not a number from one out of
    range. A reason that concerns no one field stays under `_schema`."""
    errors: dict[str, list[str]] = {}
    for reason in reasons:
        kind, _, name = reason.partition(" ")
        field = FIELD_BY_NAME.get(name)
        if reason in _CROSS_FIELD:
            name, message = _CROSS_FIELD[reason]
        elif kind == "missing" and field is not None:
            message = MISSING
        elif kind == "invalid" and field is not None:
            message = _invalid_message(field, raw.get(name))
        else:
            name, message = "_schema", reason
        errors.setdefault(name, []).append(message)
    return errors


def _invalid_message(field: Field, value: Any) -> str:
    """Why `value` is not a valid `field`, in marshmallow's words for its JSON field."""
    if field.kind == "date":
        return NOT_A_DATE
    if field.kind == "enum":
        return f"Must be one of: {', '.join(ENUMS[field.name])}."
    if field.kind == "bool":
        return "Not a valid boolean."
    number = _number(_text(value) or "")
    if number is None or not math.isfinite(number):
        return "Not a valid integer." if field.kind == "int" else "Not a valid number."
    if field.kind == "int" and number != math.floor(number):
        return "Not a valid integer."
    if field.positive:
        return "Must be greater than 0."
    if field.maximum is None:
        return f"Must be greater than or equal to {field.minimum}."
    if field.minimum is None:
        return f"Must be less than or equal to {field.maximum}."
    return (f"Must be greater than or equal to {field.minimum} and less than or equal to "
            f"{field.maximum}.")
