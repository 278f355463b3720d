"""One car valued on the hot path: plain Python and small numpy arrays, no pandas, each CatBoost
model called once (the point model on the breakdown stages and residual points together).

It is the single-record twin of `Predictor.predict_with_rows` + `explain`: the same rules
(record.validate_record, features.derive_record/fill_record/model_row, priors.factors_record,
the same confidence penalties), and a test holds the two paths to identical values on
thousands of generated cars. Rows the service builds itself (the breakdown's counterfactual
stages and the residual points) are never validated again.
"""
from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import explain, features, priors
from .predictor import (
    GIVEN,
    GUIDE_PRICE_FACTOR,
    GUIDE_PRICE_RATIO,
    GUIDE_PRICE_REASON,
    HIGH,
    MEDIUM,
    RARE_SERIES_ROWS,
    SEGMENT,
    SEGMENT_GUESS,
    SERIES,
    SERIES_GUESS,
    UNUSUAL_KM_PER_YEAR,
    Predictor,
    guide_price_warning,
)
from .record import NAMES, validate_record

STAGE_FIELDS = tuple(n for n in NAMES if n != "price")
NO_GUIDE_PRICE = ("new_price is required for this model: brand and series unknown, no guide "
                  "price to infer")


@dataclass
class OneCar:
    """A valued car: the numbers a valuation body is made of (money not yet rounded)."""

    valuation_date: dt.date
    value: float
    low: float
    high: float
    confidence: float
    level: str
    reasons: list[str]
    warnings: list[str]
    stages: np.ndarray  # breakdown: the reference car, then one group of fields at a time
    residuals: np.ndarray  # at explain.RESIDUAL_MONTHS, never rising


def _months_before(day: dt.date, months: int) -> dt.date:
    """pandas' DateOffset(months=-m): the same day, clamped to the month's end."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def _complete(predictor: Predictor, car: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    derived = features.derive_record(car)
    soh = priors.expected_soh_one(derived["age_months"], derived["mileage_km"])
    return features.fill_record(derived, predictor.profile["defaults"], soh)


def _guide_price(predictor: Predictor, typed: dict[str, Any]) -> tuple[float | None, str]:
    """`Predictor.fill_new_price` for one car: (guide price, how it was filled)."""
    lookup = predictor.profile["new_price"]
    brand = str(typed["brand"])
    guess = lookup["series"].get(f"{brand}|{typed['series']}")
    if guess is None:
        guess = lookup["brand"].get(brand)
    if guess is not None:
        return float(guess), SERIES
    guess = lookup.get("energy", {}).get(str(typed["energy_type"]))
    if guess is None:
        guess = lookup.get("all")
    return (float(guess), SEGMENT) if guess is not None else (None, GIVEN)


def _stages(car: dict[str, Any], defaults: dict[str, Any], km_per_year: float
            ) -> list[dict[str, Any]]:
    """explain.reference and explain.breakdown's stages, for one car."""
    ref = dict(car)
    age_years = max((car["valuation_date"] - car["first_registration"]).days / 365.25, 0.0)
    ref["mileage_km"] = float(np.round(age_years * km_per_year, 0))
    ref["condition_score"] = defaults.get("condition_score")
    ref["accident"], ref["flood_damage"], ref["fire_damage"] = "none", False, False
    ref["battery_soh_pct"] = None
    ref["transfer_count"] = defaults.get("transfer_count")
    ref["usage"], ref["region"], ref["color"] = "private", None, None
    stages = [ref]
    for _, fields in explain.GROUPS:
        before = stages[-1]
        if all(type(before[name]) is type(car[name]) and before[name] == car[name]
               for name in fields):
            stages.append(before)  # the car's fields are the reference's: the same row again
            continue
        step = dict(before)
        for name in fields:
            step[name] = car[name]
        stages.append(step)
    return stages


def _distinct(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The rows without repeats of one object (`_stages` repeats a stage whose group the car
    shares with the reference), and where each row of `rows` is among them."""
    at: dict[int, int] = {}
    distinct: list[dict[str, Any]] = []
    for row in rows:
        if id(row) not in at:
            at[id(row)] = len(distinct)
            distinct.append(row)
    return distinct, np.array([at[id(row)] for row in rows])


def _later(car: dict[str, Any], km_per_year: float) -> list[dict[str, Any]]:
    """explain.residuals' rows, for one car."""
    out = []
    for months in explain.RESIDUAL_MONTHS:
        later = dict(car)
        later["first_registration"] = _months_before(car["first_registration"], months)
        later["mileage_km"] = min(car["mileage_km"] + km_per_year * months / 12, 1_999_999)
        age = (later["valuation_date"] - later["first_registration"]).days / 30.4375
        drop = (priors.expected_soh_one(age - months, car["mileage_km"])
                - priors.expected_soh_one(age, later["mileage_km"]))
        soh = later["battery_soh_pct"]
        later["battery_soh_pct"] = None if soh is None or np.isnan(soh) else soh - drop
        out.append(later)
    return out


def _canonical(record: dict[str, Any]) -> dict[str, Any]:
    """The record's canonical fields, NaN as None (`v != v` is the NaN test: the values are
    plain Python, never pandas' NA)."""
    get = record.get
    return {name: None if (value := get(name)) != value else value for name in STAGE_FIELDS}


def value_one(predictor: Predictor, raw: dict[str, Any], today: dt.date | None = None
              ) -> OneCar | str:
    """Value one canonical record, or the reason it cannot be valued."""
    typed, reasons = validate_record(raw, today)
    if reasons:
        return "; ".join(reasons)
    imputed = GIVEN
    if predictor.card["target"]["mode"] == "retention" and typed["new_price"] is None:
        typed["new_price"], imputed = _guide_price(predictor, typed)
        if typed["new_price"] is None:
            return NO_GUIDE_PRICE
    car, assumed = _complete(predictor, typed)
    canonical = _canonical(car)
    km_year = float(predictor.profile["median_km_per_year"])
    # a row the model sees twice (a stage that changes nothing) is completed and predicted once
    distinct, where = _distinct(_stages(canonical, predictor.profile["defaults"], km_year)
                                + _later(canonical, km_year))
    built = [_complete(predictor, row)[0] for row in distinct]
    neutral = predictor.neutral
    off = predictor.offset_one(car)
    shift = float(predictor.card["calibration"]["conformal_shift"])
    pool = predictor.pool([features.model_row(r, neutral) for r in built])
    point_logs = predictor.raw_predict(predictor.point, pool)
    # every built row keeps the car's guide price, so every row has the car's offset
    offsets = np.full(len(built), off)
    factor_rows = [priors.factors_record(r, predictor.card["priors"]) for r in built]
    combined = np.array([_product(f) for f in factor_rows])
    values = (np.exp(point_logs + offsets + predictor.point_shift) * combined)[where]
    n_stages = len(explain.GROUPS) + 1
    # the last stage is the car itself: its row serves the P10 and P90 models from the same pool
    at = int(where[n_stages - 1])
    point = float(point_logs[at] + off + predictor.point_shift)
    low = min(float(predictor.raw_predict(predictor.low, pool)[at] + off - shift), point)
    high = max(float(predictor.raw_predict(predictor.high, pool)[at] + off + shift), point)
    car_factors = priors.factors_record(car, predictor.card["priors"])
    factor = _product(car_factors)
    exp = np.exp(np.array([point, low, high]))
    score, why, warnings = assess_one(predictor, car, float((exp[2] - exp[1]) / exp[0]),
                                      imputed, car_factors)
    note = assumption_note(car, assumed)
    if note:
        warnings.append(note)
    level = "high" if score >= HIGH else ("medium" if score >= MEDIUM else "low")
    return OneCar(valuation_date=car["valuation_date"], value=float(exp[0] * factor),
                  low=float(exp[1] * factor), high=float(exp[2] * factor), confidence=score,
                  level=level, reasons=why, warnings=warnings, stages=values[:n_stages],
                  residuals=np.minimum.accumulate(values[n_stages:]))


def _product(factors: dict[str, float]) -> float:
    """`priors.combined` for one row: the factors multiplied in order (as numpy does)."""
    return float(math.prod(factors.values()))


def assumption_note(car: dict[str, Any], assumed: list[str]) -> str:
    """Predictor.assumption_notes for one car."""
    parts = []
    for col in assumed:
        value = car[col]
        shown = f"{value:g}" if isinstance(value, float) else str(value).lower()
        parts.append(f"{col}={shown}")
    return f"not given, assumed typical: {', '.join(parts)}" if parts else ""


def assess_one(predictor: Predictor, car: dict[str, Any], rel_width: float, imputed: str,
               factors: dict[str, float]) -> tuple[float, list[str], list[str]]:
    """Predictor.assess for one car: score, reasons, warnings in the same order (each penalty's
    messages are formatted only when it applies)."""
    ref_width = float(predictor.profile["median_rel_width"])
    score = float(np.clip(1.2 - 0.5 * rel_width / ref_width, 0.0, 1.0))
    reasons: list[str] = []
    warnings: list[str] = []
    if rel_width > ref_width:
        reasons.append(f"range wider than typical ({rel_width:.0%} vs {ref_width:.0%})")
    for factor, reason, warning in (*_catalogue_penalties(predictor, car, imputed),
                                    *_use_penalties(predictor, car, imputed),
                                    *_prior_and_damage_penalties(predictor, car, factors)):
        score = score * factor
        if reason:
            reasons.append(reason)
        if warning:
            warnings.append(warning)
    return score, reasons, warnings


Penalty = tuple[float, str | None, str | None]  # (factor, reason, warning)


def _catalogue_penalties(predictor: Predictor, car: dict[str, Any], imputed: str
                         ) -> Iterator[Penalty]:
    """The penalties that apply for what training saw of the car's brand, series and guide
    price."""
    prof = predictor.profile
    brand = str(car["brand"])
    brand_n = prof["brand_counts"].get(brand, 0)
    series_n = prof["series_counts"].get(f"{brand}|{car['series']}", 0)
    if brand_n == 0:
        yield 0.4, "brand not seen in training", "unknown brand"
    if brand_n > 0 and series_n == 0:
        yield 0.5, "series not seen in training", "unknown series"
    if 0 < series_n < RARE_SERIES_ROWS:
        yield 0.8, "series rare in training", None
    typical = prof["new_price"]["series"].get(f"{brand}|{car['series']}")
    given = car["new_price"]
    if imputed == GIVEN and typical is not None and given is not None and given == given:
        ratio = float(np.float64(given) / np.float64(typical))
        if ratio > GUIDE_PRICE_RATIO or ratio < 1 / GUIDE_PRICE_RATIO:
            yield (GUIDE_PRICE_FACTOR, GUIDE_PRICE_REASON,
                   guide_price_warning(float(given), float(typical)))


def _use_penalties(predictor: Predictor, car: dict[str, Any], imputed: str
                   ) -> Iterator[Penalty]:
    """The penalties that apply for the car's age and mileage and for a guide price inferred."""
    for col in ("age_months", "mileage_km"):
        lo, hi = predictor.profile["ranges"][col]
        value = float(car[col])
        if value < lo or value > hi:
            yield (0.75, f"{col} outside the training range",
                   f"{col} outside the training range ({lo:,.0f}-{hi:,.0f})")
    kmy = float(car["mileage_per_year_km"])
    if car["age_months"] >= 24 and (kmy < UNUSUAL_KM_PER_YEAR[0]
                                    or kmy > UNUSUAL_KM_PER_YEAR[1]):
        yield 0.9, "mileage unusual for age", "mileage unusual for age"
    if imputed == SERIES:
        yield SERIES_GUESS
    if imputed == SEGMENT:
        yield SEGMENT_GUESS


def _prior_and_damage_penalties(predictor: Predictor, car: dict[str, Any],
                                factors: dict[str, float]) -> Iterator[Penalty]:
    """The prior adjustments applied, and the warnings on battery and damage."""
    for col, value in factors.items():
        if value != 1.0:
            yield (0.85, f"prior adjustment for {col}",
                   f"{col}: prior adjustment applied ({predictor.card['priors'][col]['rule']})")
    if not np.isnan(car["battery_soh_pct"]) and car["is_nev"] == 0:
        yield 1.0, None, "battery_soh_pct ignored: not an NEV"
    if car["flood_damage"] is True:
        yield 1.0, None, "flood-damaged (泡水)"
    if car["fire_damage"] is True:
        yield 1.0, None, "fire-damaged (火烧)"
