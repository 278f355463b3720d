"""Why a value is what it is: the Black Book style breakdown and the residual-value forecast.

Breakdown: start from a reference car (this brand, series, specification and age, with
typical mileage for its age and typical condition, private use, no damage, no region or
colour), then change one group of fields at a time to this car's own values, valuing the
car after each change. The adjustments are the differences, so they add up exactly to
the value; money is rounded on the running total, so the rounded parts add up exactly to
the rounded value too.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from . import priors

# (breakdown group, the canonical fields it changes), in the order they are applied.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mileage", ("mileage_km",)),
    ("condition", ("condition_score",)),
    ("accident_damage", ("accident", "flood_damage", "fire_damage")),
    ("battery", ("battery_soh_pct",)),
    ("transfers_usage", ("transfer_count", "usage")),
    ("region", ("region",)),
    ("other", ("color",)),
)
RESIDUAL_MONTHS = (12, 24, 36)

Valuer = Callable[[pd.DataFrame], np.ndarray]


def reference(cars: pd.DataFrame, defaults: dict, km_per_year: float) -> pd.DataFrame:
    """The reference car of each row: typical mileage for its age, typical condition."""
    ref = cars.copy()
    age_years = ((ref["valuation_date"] - ref["first_registration"]).dt.days / 365.25).clip(lower=0)
    ref["mileage_km"] = (age_years * km_per_year).round(0)
    ref["condition_score"] = defaults.get("condition_score")
    ref["accident"], ref["flood_damage"], ref["fire_damage"] = "none", False, False
    ref["battery_soh_pct"] = None  # filled with the SOH expected for age and mileage
    ref["transfer_count"] = defaults.get("transfer_count")
    ref["usage"], ref["region"], ref["color"] = "private", None, None
    return ref


def breakdown(cars: pd.DataFrame, value: Valuer, defaults: dict, km_per_year: float,
              learned: dict[str, bool]) -> list[dict]:
    """Per car: base, ordered signed adjustments (rounded, adding up exactly), their source."""
    stages = [reference(cars, defaults, km_per_year)]
    for _, fields in GROUPS:
        step = stages[-1].copy()
        for field in fields:
            step[field] = cars[field]
        stages.append(step)
    values = value(pd.concat(stages, ignore_index=True)).reshape(len(stages), len(cars))
    return compose(values, learned)


def compose(values: np.ndarray, learned: dict[str, bool]) -> list[dict]:
    """The breakdown of each car (a column of `values`: the reference, then one stage per
    group): base, signed adjustments of the rounded running total, and their source."""
    # whole units, half away from zero (as every amount of a response): one list per car
    rounded = (np.sign(values) * np.floor(np.abs(values) + 0.5)).astype(np.int64).T.tolist()
    sources = []
    for _, fields in GROUPS:
        known = [learned.get(f, True) for f in fields]
        sources.append("learned" if all(known) else ("prior" if not any(known)
                                                     else "learned+prior"))
    out = []
    for car in rounded:
        items = [{"factor": group, "amount": car[k] - car[k - 1], "source": source}
                 for k, ((group, _), source) in enumerate(zip(GROUPS, sources, strict=True),
                                                         start=1)]
        out.append({"base": car[0], "adjustments": items, "total": car[-1]})
    return out


def residuals(cars: pd.DataFrame, value: Valuer, km_per_year: float) -> np.ndarray:
    """Value at +12/+24/+36 months: the car ages and drives `km_per_year` more a year, valued
    at today's market (the valuation date stays); never above the previous horizon."""
    rows = []
    for months in RESIDUAL_MONTHS:
        later = cars.copy()
        later["first_registration"] = later["first_registration"] - pd.DateOffset(months=months)
        later["mileage_km"] = later["mileage_km"] + km_per_year * months / 12
        later["mileage_km"] = later["mileage_km"].clip(upper=1_999_999)
        if "battery_soh_pct" in later:
            age = ((later["valuation_date"] - later["first_registration"]).dt.days / 30.4375)
            drop = priors.expected_soh(age - months, cars["mileage_km"]) - priors.expected_soh(
                age, later["mileage_km"])
            later["battery_soh_pct"] = later["battery_soh_pct"] - drop
        rows.append(later)
    values = value(pd.concat(rows, ignore_index=True)).reshape(len(RESIDUAL_MONTHS), len(cars))
    return np.minimum.accumulate(values, axis=0).T
