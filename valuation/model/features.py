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
    reg = frame["first_registration"].to_numpy(dtype="datetime64[ns]")
    val = frame["valuation_date"].to_numpy(dtype="datetime64[ns]")
    new: dict[str, Any] = {}
    new["age_months"] = np.maximum(_count((val - reg).astype("timedelta64[D]")) / DAYS_PER_MONTH,
                                   0.0)  # NaN (an unknown date) stays NaN
    years = np.maximum(new["age_months"] / 12, 1 / 12)
    new["mileage_per_year_km"] = frame["mileage_km"].to_numpy(dtype="float64") / years
    new["is_nev"] = frame["energy_type"].isin(NEV_ENERGY).to_numpy(dtype="float64")
    new["is_commercial"] = frame["usage"].isin(COMMERCIAL_USAGE).to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        new["log_new_price"] = np.log(frame["new_price"].to_numpy(dtype="float64"))
    # months since January 2000, to the day: prices can move within a month (a maker's price
    # cut), and whole months hid that (US Tesla validation: 3.03 % -> 2.55 % MdAPE)
    month = val.astype("datetime64[M]")
    first = month.astype("datetime64[D]")
    day = _count(val.astype("datetime64[D]") - first)  # day of the month - 1
    length = _count((month + 1).astype("datetime64[D]") - first)
    since_2000 = _count(month - np.datetime64("2000-01", "M"))
    new["valuation_month"] = since_2000 + day / length
    # the model line by model year (the registration year where none is given); None where
    # either is unknown (an invalid row, which gets no value)
    year = frame["model_year"].to_numpy(dtype="float64")
    year = np.where(np.isnan(year), _years(reg), year)
    new["series_year"], new["variant_year"] = _line_years(frame, year)
    if "price" in frame.columns:
        new["retention"] = (frame["price"].to_numpy(dtype="float64")
                            / frame["new_price"].to_numpy(dtype="float64"))
    return pd.concat([frame.drop(columns=[c for c in new if c in frame.columns]),
                      pd.DataFrame(new, index=frame.index)], axis=1)


def _count(gap: np.ndarray) -> np.ndarray:
    """A numpy timedelta array as a float count of its unit (days, months), NaN where not a
    time."""
    return np.where(np.isnat(gap), np.nan, gap.astype("int64").astype("float64"))


def _years(days: np.ndarray) -> np.ndarray:
    """The calendar year of numpy datetimes as floats, NaN where not a time."""
    return np.where(np.isnat(days), np.nan,
                    days.astype("datetime64[Y]").astype("int64").astype("float64") + 1970)


def _line_years(frame: pd.DataFrame, year: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """"brand|series|year" and "brand|series|variant|year" per row, formatted once per distinct
    combination (a batch has a few hundred), None where a part is unknown."""
    parts = [_codes(frame[c]) for c in ("brand", "series", "variant")]
    year_codes, year_values = pd.factorize(year, use_na_sentinel=True)
    codes = [c for c, _ in parts] + [year_codes]
    sizes = [len(u) + 1 for _, u in parts] + [len(year_values) + 1]
    # one integer per combination: missing (-1) becomes each part's last position
    key = np.zeros(len(frame), dtype=np.int64)
    for c, size in zip(codes, sizes, strict=True):
        key = key * size + np.where(c < 0, size - 1, c)
    combos, at = np.unique(key, return_inverse=True)
    texts_series: list[str | None] = []
    texts_variant: list[str | None] = []
    (_, brands), (_, series), (_, variants) = parts
    for combo in combos.tolist():
        y, combo = combo % sizes[3], combo // sizes[3]
        v, combo = combo % sizes[2], combo // sizes[2]
        s, b = combo % sizes[1], combo // sizes[1]
        if b == len(brands) or s == len(series) or y == len(year_values):
            texts_series.append(None)
            texts_variant.append(None)
            continue
        line, model_year = f"{brands[b]}|{series[s]}|", int(year_values[y])
        texts_series.append(f"{line}{model_year}")
        texts_variant.append(None if v == len(variants) else f"{line}{variants[v]}|{model_year}")
    return _coded(texts_series, at, frame.index), _coded(texts_variant, at, frame.index)


def _codes(column: pd.Series) -> tuple[np.ndarray, Any]:
    """`pd.factorize` of a column (codes, -1 where missing; distinct values), read straight
    from a categorical's codes: the categories then may hold values no row has, which is harmless
    to a caller that spreads per-value results by code."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), column.cat.categories.to_numpy(dtype=object)
    return pd.factorize(column.to_numpy(dtype=object), use_na_sentinel=True)


def _coded(texts: list[str | None], at: np.ndarray, index: pd.Index) -> pd.Series:
    """A categorical column of per-combination texts (None: missing) spread to the rows."""
    text_at, distinct = pd.factorize(np.array(texts, dtype=object), use_na_sentinel=True)
    return pd.Series(pd.Categorical.from_codes(text_at[at], distinct, validate=False),
                     index=index)


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
    """"brand|series" per row."""
    at, keys, _ = series_keys(frame)
    return pd.Series(np.array(keys, dtype=object)[at], index=frame.index, dtype=object)


def series_keys(frame: pd.DataFrame) -> tuple[np.ndarray, list[str | None], list[str | None]]:
    """The distinct "brand|series" keys of a frame, each row's position among them and each
    key's brand: look-ups by series are made once per key, not once per row. A row without a
    brand or a series (an invalid row) has the key None, which matches nothing."""
    brand_at, brands = _codes(frame["brand"])
    series_at, series = _codes(frame["series"])
    n_series = len(series) + 1  # the last position: missing
    brand_at = np.where(brand_at < 0, len(brands), brand_at).astype(np.int64)
    series_at = np.where(series_at < 0, len(series), series_at)
    combos, at = np.unique(brand_at * n_series + series_at, return_inverse=True)
    keys: list[str | None] = []
    brand_of: list[str | None] = []
    for combo in combos.tolist():
        b, s = divmod(combo, n_series)
        known = b < len(brands) and s < len(series)
        brand_of.append(str(brands[b]) if b < len(brands) else None)
        keys.append(f"{brands[b]}|{series[s]}" if known else None)
    return at.reshape(-1), keys, brand_of


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
    masks: dict[str, np.ndarray] = {}
    # each row's series specification, all columns in one look-up
    keys, columns = _spec_table(defaults.get("series_specs", {}))
    row_key, series, _ = series_keys(derived)
    at = keys.get_indexer(series)[row_key]  # -1, no spec: the last, empty row
    fills: dict[str, Any] = {col: values[at] for col, values in columns.items()}
    fills["model_year"] = derived["first_registration"].dt.year.to_numpy(dtype="float64")
    fills.update(ASSUMED_VALUES)
    fills.update({k: defaults.get(k) for k in MEDIAN_FILLED if defaults.get(k) is not None})
    fills["battery_soh_pct"] = np.where(derived["is_nev"].to_numpy() == 1,
                                        expected_soh.to_numpy(dtype="float64"), np.nan)
    filled_columns: dict[str, Any] = {}
    for col, value in fills.items():
        given = derived[col]
        if col in _NUMBERED:  # numbers stay numbers: no round trip through objects
            current = floats(given)
            before = np.isnan(current) if given.dtype.kind in "fiub" else given.isna().to_numpy()
            filled = np.where(before, np.asarray(value, dtype="float64"), current)
            masks[col] = before & ~np.isnan(filled)
            filled_columns[col] = filled
        elif isinstance(given.dtype, pd.CategoricalDtype) and isinstance(value, str):
            # a validated text column and one typical value: stays categorical
            codes = given.cat.codes.to_numpy()
            texts = given.cat.categories.tolist()
            if value not in texts:
                texts.append(value)
            before = codes < 0
            masks[col] = before
            filled_columns[col] = pd.Categorical.from_codes(
                np.where(before, texts.index(value), codes), texts, validate=False)
        elif isinstance(given.dtype, pd.BooleanDtype) and isinstance(value, bool):
            before = given.isna().to_numpy()
            masks[col] = before
            filled_columns[col] = given.fillna(value).array
        elif col in SPEC_CATEGORICAL:  # one typical text per row: categorical in and out
            filled_columns[col], masks[col] = _fill_text(given, value)
        else:
            current = given.to_numpy(dtype=object, na_value=None)
            before = pd.isna(current)
            column = np.where(before, value, current)
            masks[col] = before & ~pd.isna(column)
            filled_columns[col] = column
    for col in ("flood_damage", "fire_damage"):
        filled_columns[col] = pd.array(filled_columns[col], dtype="boolean")
    out = pd.concat([derived.drop(columns=list(filled_columns)),
                     pd.DataFrame(filled_columns, index=derived.index)], axis=1)
    return out, pd.DataFrame(masks, index=derived.index)


def _fill_text(given: pd.Series, value: np.ndarray) -> tuple[pd.Categorical, np.ndarray]:
    """A text column filled where missing with each row's `value` (None: nothing to fill), as a
    categorical (the breakdown's stages then copy codes, not texts), and the mask of the rows
    filled."""
    if isinstance(given.dtype, pd.CategoricalDtype):
        codes = given.cat.codes.to_numpy()
        texts = given.cat.categories.tolist()
    else:
        codes, distinct = pd.factorize(given.to_numpy(dtype=object, na_value=None),
                                       use_na_sentinel=True)
        texts = distinct.tolist()
    before = codes < 0
    if before.any():
        fill_at, fill_texts = pd.factorize(value[before], use_na_sentinel=True)
        position = {text: at for at, text in enumerate(texts)}
        for text in fill_texts.tolist():
            position.setdefault(text, len(texts))
            if len(texts) < len(position):
                texts.append(text)
        mapped = np.array([position[t] for t in fill_texts.tolist()] + [-1], dtype=np.int64)
        codes = codes.astype(np.int64)  # a copy: the column itself is not touched
        codes[before] = mapped[fill_at]
    return (pd.Categorical.from_codes(codes, texts, validate=False),
            before & (codes >= 0))


_SPEC_TABLES: dict[int, tuple[dict[str, Any], pd.Index, dict[str, np.ndarray]]] = {}


def _spec_table(specs: dict[str, Any]) -> tuple[pd.Index, dict[str, np.ndarray]]:
    """The series specifications as series keys and, per spec column, the values in key order
    plus one empty value at the end (position -1: a series without a spec). Built once per
    model's defaults, not once per call."""
    hit = _SPEC_TABLES.get(id(specs))
    if hit is not None and hit[0] is specs:
        return hit[1], hit[2]
    keys = pd.Index(list(specs), dtype=object)
    columns = {col: np.array([specs[k].get(col, np.nan) for k in keys] + [np.nan],
                             dtype="float64") for col in SPEC_NUMERIC}
    columns.update({col: np.array([specs[k].get(col) for k in keys] + [None], dtype=object)
                    for col in SPEC_CATEGORICAL})
    if len(_SPEC_TABLES) >= 8:  # a process serves a few models; training builds more
        _SPEC_TABLES.clear()
    _SPEC_TABLES[id(specs)] = (specs, keys, columns)  # the dict is kept: its id is not reused
    return keys, columns


def model_input(derived: pd.DataFrame, neutral: tuple[str, ...] = ()) -> pd.DataFrame:
    """Exactly the model's columns, in contract order and dtypes. `neutral` columns (effects the
    model does not learn; priors apply instead) are blanked so they never move the model."""
    data: dict[str, Any] = {}
    blank = pd.Categorical.from_codes(np.zeros(len(derived), dtype=np.int8), [MISSING_CATEGORY])
    for name in CATEGORICAL:
        data[name] = blank if name in neutral else _category(derived[name])
    for name in NUMERIC:
        col = floats(derived[name])
        data[name] = col * np.nan if name in neutral else col
    return pd.DataFrame(data, index=derived.index)


def floats(col: pd.Series) -> np.ndarray:
    """A column as float64, NaN where missing or not a number (numeric columns, most of them,
    without `pd.to_numeric`'s pass)."""
    if col.dtype.kind in "fiub":
        return col.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _category(col: pd.Series) -> pd.Categorical:
    """A categorical column as CatBoost reads it: each value's text, MISSING_CATEGORY where
    absent. A pandas Categorical, as CatBoost builds a pool from one in a fifth of the time of
    a text column (the same values, so the same predictions; tested)."""
    if isinstance(col.dtype, pd.CategoricalDtype):  # a validated text column: coded already
        codes, uniques = col.cat.codes.to_numpy(), col.cat.categories
        texts = uniques.tolist()
        if all(isinstance(t, str) for t in texts):  # distinct texts: only NA to add
            if MISSING_CATEGORY in texts:
                missing = texts.index(MISSING_CATEGORY)
            else:
                missing = len(texts)
                texts.append(MISSING_CATEGORY)
            return pd.Categorical.from_codes(np.where(codes < 0, missing, codes), texts,
                                             validate=False)
    else:
        codes, uniques = pd.factorize(col.to_numpy(dtype=object), use_na_sentinel=True)
    labels = np.array([str(u) for u in uniques] + [MISSING_CATEGORY], dtype=object)
    # two values with one text (1 and "1") or a value that reads MISSING_CATEGORY: one category
    label_codes, categories = pd.factorize(labels)
    return pd.Categorical.from_codes(label_codes[np.where(codes < 0, len(uniques), codes)],
                                     categories)


def target(derived: pd.DataFrame) -> np.ndarray:
    """The training target: log price."""
    return np.log(derived["price"].to_numpy(dtype="float64"))
