"""The feature contract: the model's columns and how canonical records become model input.

Training, batch prediction and the API all call `model_input`, so there is no
training/serving skew. A model card stores CONTRACT_VERSION and FEATURES; loading
refuses a model whose card disagrees (see registry.check_card).
"""
from __future__ import annotations

import calendar
import datetime as dt
import functools
import math
from typing import Any

import numpy as np
import pandas as pd

from .record import COMMERCIAL_USAGE, NEV_ENERGY

CONTRACT_VERSION = "5"  # 4: valuation_month to the day; 5: the model line by model year
DAYS_PER_MONTH = 365.25 / 12
MISSING_CATEGORY = "NA"

# the canonical record's categorical fields
RECORD_CATEGORICAL: tuple[str, ...] = (
    "brand", "series", "variant", "body_type", "energy_type", "transmission",
    "usage", "accident", "region", "color",
)
# A model line's price level by model year ("brand|series|year", "brand|series|variant|year";
# the registration year where the model year is not given). The monotone constraints need
# max_ctr_complexity=1, which keeps CatBoost from combining series and year itself; given as
# features, the combinations come back without touching age or mileage. Validation rows inside
# the training split: US Tesla 2.54 % -> 2.34 % MdAPE, AU EV listings 6.02 % -> 5.55 %.
LINE_YEAR: tuple[str, ...] = ("series_year", "variant_year")
CATEGORICAL: tuple[str, ...] = RECORD_CATEGORICAL + LINE_YEAR
NUMERIC: tuple[str, ...] = (
    "age_months", "mileage_km", "model_year", "displacement_l", "power_kw", "battery_kwh",
    "range_km", "battery_soh_pct", "fuel_consumption_l100km", "seats", "length_mm", "width_mm",
    "height_mm", "log_new_price",
    "transfer_count", "condition_score",
    "flood_damage", "fire_damage", "is_nev", "valuation_month",
)
FEATURES: tuple[str, ...] = CATEGORICAL + NUMERIC
_POSITION = {name: at for at, name in enumerate(FEATURES)}
# Other things equal, value must not rise with age or mileage, nor fall with condition or SOH.
MONOTONE: dict[str, int] = {"age_months": -1, "mileage_km": -1, "condition_score": 1,
                            "battery_soh_pct": 1}
# A condition field the caller leaves out is assumed typical (and the valuation says so).
ASSUMED_VALUES: dict[str, object] = {"accident": "none", "usage": "private",
                                     "flood_damage": False, "fire_damage": False}
MEDIAN_FILLED = ("condition_score", "transfer_count")
SPEC_NUMERIC = ("displacement_l", "power_kw", "battery_kwh", "range_km",
                "fuel_consumption_l100km", "seats", "length_mm", "width_mm", "height_mm")
SPEC_CATEGORICAL = ("body_type", "transmission")


def derive(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the derived columns to a validated canonical frame (returns a new frame)."""
    out = frame.copy()
    days = (out["valuation_date"] - out["first_registration"]).dt.days
    out["age_months"] = (days / DAYS_PER_MONTH).clip(lower=0)
    years = (out["age_months"] / 12).clip(lower=1 / 12)
    out["mileage_per_year_km"] = out["mileage_km"] / years
    out["is_nev"] = out["energy_type"].isin(NEV_ENERGY).astype("float64")
    out["is_commercial"] = out["usage"].isin(COMMERCIAL_USAGE).astype("float64")
    out["log_new_price"] = np.log(out["new_price"].astype("float64"))
    vd = out["valuation_date"]
    # months since January 2000, to the day: prices can move within a month (a maker's price
    # cut), and whole months hid that (US Tesla validation: 3.03 % -> 2.55 % MdAPE)
    out["valuation_month"] = (((vd.dt.year - 2000) * 12 + vd.dt.month - 1).astype("float64")
                              + (vd.dt.day - 1) / vd.dt.days_in_month)
    # the model line by model year (the registration year where none is given); None where
    # either is unknown (an invalid row, which gets no value)
    year = out["model_year"].astype("float64").fillna(
        out["first_registration"].dt.year.astype("float64"))
    years = [None if y != y else int(y) for y in year.tolist()]
    brands, series = (out[c].astype(object).where(out[c].notna(), None).tolist()
                      for c in ("brand", "series"))
    variants = out["variant"].astype(object).where(out["variant"].notna(), None).tolist()
    # plain string formatting: several times faster than pandas' string addition
    lines = [None if b is None or name is None or y is None else f"{b}|{name}|"
             for b, name, y in zip(brands, series, years, strict=True)]
    out["series_year"] = [None if line is None else f"{line}{y}"
                          for line, y in zip(lines, years, strict=True)]
    out["variant_year"] = [None if line is None or v is None else f"{line}{v}|{y}"
                           for line, v, y in zip(lines, variants, years, strict=True)]
    if "price" in out.columns:
        out["retention"] = out["price"] / out["new_price"]
    return out


@functools.lru_cache(maxsize=4096)
def _log(number: float) -> float:
    """numpy's log (the bits `derive` gets), once per guide price: a valuation's dozen rows
    share one."""
    return float(np.log(number))


@functools.lru_cache(maxsize=4096)
def _valuation_month(day: dt.date) -> float:
    """`derive`'s valuation_month for one date, once per date: a valuation's dozen rows share
    one."""
    return float((day.year - 2000) * 12 + day.month - 1) + (
        (day.day - 1) / calendar.monthrange(day.year, day.month)[1])


def derive_record(typed: dict[str, Any]) -> dict[str, Any]:
    """`derive` for one validated record (dates as `datetime.date`), in plain Python."""
    out = dict(typed)
    days = (typed["valuation_date"] - typed["first_registration"]).days
    out["age_months"] = max(days / DAYS_PER_MONTH, 0.0)
    out["mileage_per_year_km"] = typed["mileage_km"] / max(out["age_months"] / 12, 1 / 12)
    out["is_nev"] = 1.0 if typed["energy_type"] in NEV_ENERGY else 0.0
    out["is_commercial"] = 1.0 if typed["usage"] in COMMERCIAL_USAGE else 0.0
    new_price = typed["new_price"]
    out["log_new_price"] = _log(new_price) if new_price is not None else math.nan
    out["valuation_month"] = _valuation_month(typed["valuation_date"])
    model_year = typed["model_year"]
    year = str(int(model_year if model_year is not None and model_year == model_year
                   else typed["first_registration"].year))
    line = f"{typed['brand']}|{typed['series']}|"
    out["series_year"] = line + year
    variant = typed["variant"]
    out["variant_year"] = (None if variant is None or variant != variant
                           else f"{line}{variant}|{year}")
    return out


_NUMBERED = SPEC_NUMERIC + MEDIAN_FILLED + ("model_year", "battery_soh_pct")
_SPEC = frozenset(SPEC_NUMERIC + SPEC_CATEGORICAL)
# fill_defaults' order: the specification, model_year, the assumed condition, the medians, SOH
_FILL_ORDER = (SPEC_NUMERIC + SPEC_CATEGORICAL + ("model_year",) + tuple(ASSUMED_VALUES)
               + MEDIAN_FILLED + ("battery_soh_pct",))


def fill_record(derived: dict[str, Any], defaults: dict[str, Any], expected_soh: float
                ) -> tuple[dict[str, Any], list[str]]:
    """`fill_defaults` for one derived record: the filled record and the fields assumed, in
    the same order. A fill value is looked up only for a missing field (None or NaN; `v != v`
    is the NaN test), as this runs for every row a valuation builds and the service's own
    rows miss almost nothing."""
    get = derived.get
    out = dict(derived)
    assumed = []
    spec = None
    for col in [col for col in _FILL_ORDER if (current := get(col)) is None or current != current]:
        if col in _SPEC:
            if spec is None:
                spec = defaults.get("series_specs", {}).get(
                    f"{derived['brand']}|{derived['series']}", {})
            value = spec.get(col)
        elif col == "model_year":
            value = float(derived["first_registration"].year)
        elif col in ASSUMED_VALUES:
            value = ASSUMED_VALUES[col]
        elif col in MEDIAN_FILLED:
            value = defaults.get(col)
        else:  # battery_soh_pct: an NEV's expected SOH at its age and mileage
            value = expected_soh if derived["is_nev"] == 1 else None
        out[col] = value
        if value is not None:
            assumed.append(col)
    out.update({col: math.nan if (number := out[col]) is None else float(number)
                for col in _NUMBERED})
    return out, assumed


def model_row(record: dict[str, Any], neutral: tuple[str, ...] = ()) -> list[Any]:
    """`model_input` for one completed record: the model's values in contract order. (One
    comprehension per kind, then the neutral fields blanked: this runs for every row a
    valuation builds.)"""
    get = record.get
    row: list[Any] = [MISSING_CATEGORY if (value := get(name)) is None or value != value
                      else str(value) for name in CATEGORICAL]
    row += [math.nan if (number := get(name)) is None else float(number) for name in NUMERIC]
    for name in neutral:
        at = _POSITION.get(name)
        if at is not None:
            row[at] = MISSING_CATEGORY if at < len(CATEGORICAL) else math.nan
    return row


def series_key(frame: pd.DataFrame) -> pd.Series:
    return frame["brand"].astype(str) + "|" + frame["series"].astype(str)


def learn_defaults(derived: pd.DataFrame) -> dict[str, Any]:
    """What `fill_defaults` assumes: training medians of the numeric condition fields (None
    where the data never has one) and each series' typical specification."""
    out: dict[str, Any] = {c: (float(derived[c].median()) if derived[c].notna().any() else None)
                           for c in MEDIAN_FILLED}
    groups = derived.groupby(series_key(derived))
    specs: dict[str, dict[str, Any]] = {}
    for col in SPEC_NUMERIC:
        for key, value in groups[col].median().dropna().items():
            specs.setdefault(str(key), {})[col] = round(float(value), 2)
    for col in SPEC_CATEGORICAL:
        for key, value in groups[col].agg(lambda c: c.mode().iat[0] if c.notna().any() else None
                                          ).dropna().items():
            specs.setdefault(str(key), {})[col] = str(value)
    out["series_specs"] = specs
    return out


def fill_defaults(derived: pd.DataFrame, defaults: dict[str, Any],
                  expected_soh: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fill what the caller left out, so that a missing value never reads as an extreme one:
    the specification from the series' typical one, `model_year` from the registration year,
    and condition as typical (no accident or damage, private use, training median condition
    and transfers, for an NEV the SOH expected at its age and mileage).
    Returns the filled frame and a mask of what was assumed."""
    out = derived.copy()
    masks: dict[str, np.ndarray] = {}
    specs = defaults.get("series_specs", {})
    # each row's series specification, all columns in one look-up
    table = pd.DataFrame.from_dict(specs, orient="index").reindex(
        columns=list(SPEC_NUMERIC + SPEC_CATEGORICAL))
    spec = table.reindex(series_key(out).to_numpy())
    fills: dict[str, Any] = {col: spec[col].to_numpy() for col in SPEC_NUMERIC + SPEC_CATEGORICAL}
    fills["model_year"] = out["first_registration"].dt.year.to_numpy(dtype="float64")
    fills.update(ASSUMED_VALUES)
    fills.update({k: defaults.get(k) for k in MEDIAN_FILLED if defaults.get(k) is not None})
    fills["battery_soh_pct"] = expected_soh.where(out["is_nev"] == 1).to_numpy(dtype="float64")
    for col, value in fills.items():
        before = out[col].isna().to_numpy()
        if col in _NUMBERED:  # numbers stay numbers: no round trip through objects
            current = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype="float64")
            filled = np.where(before, np.asarray(value, dtype="float64"), current)
            masks[col] = before & ~np.isnan(filled)
            out[col] = filled
        else:
            column = out[col].astype(object).where(~before, pd.Series(value, index=out.index)
                                                   if isinstance(value, np.ndarray) else value)
            masks[col] = before & column.notna().to_numpy()
            out[col] = column
    for col in ("flood_damage", "fire_damage"):
        out[col] = out[col].astype("boolean")
    return out, pd.DataFrame(masks, index=out.index)


def model_input(derived: pd.DataFrame, neutral: tuple[str, ...] = ()) -> pd.DataFrame:
    """Exactly the model's columns, in contract order and dtypes. `neutral` columns (effects the
    model does not learn; priors apply instead) are blanked so they never move the model."""
    data = {}
    for name in CATEGORICAL:
        col = derived[name].astype("string").fillna(MISSING_CATEGORY).astype(str)
        data[name] = pd.Series(MISSING_CATEGORY, index=col.index) if name in neutral else col
    for name in NUMERIC:
        col = pd.to_numeric(derived[name], errors="coerce").astype("float64")
        data[name] = col * np.nan if name in neutral else col
    return pd.DataFrame(data, index=derived.index)


def target(derived: pd.DataFrame) -> np.ndarray:
    """The training target: log price."""
    return np.log(derived["price"].to_numpy(dtype="float64"))
