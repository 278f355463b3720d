"""Why a value is what it is: the Black Book style breakdown and the residual-value forecast.

Breakdown: start from a reference car (this brand, series, specification and age, with
typical mileage for its age and typical condition, private use, no damage, no region or
colour), then change one group of fields at a time to this car's own values, valuing the
car after each change. The adjustments are the differences, so they add up exactly to
the value; money is rounded on the running total, so the rounded parts add up exactly to
the rounded value too.
"""
from __future__ import annotations

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

# the reference car's usage, damage and place: typical values (None: unknown)
TYPICAL = (("accident", "none"), ("usage", "private"), ("region", None), ("color", None))


def with_typical_categories(cars: pd.DataFrame) -> pd.DataFrame:
    """`cars` whose categorical columns among TYPICAL hold the typical value as a category, so
    that the reference car and the car share one set of categories: the stages then concatenate
    as categoricals, not as text (a tenth of the cost downstream)."""
    out = cars
    for field, typical in TYPICAL:
        column = cars[field]
        if (typical is not None and isinstance(column.dtype, pd.CategoricalDtype)
                and typical not in column.cat.categories):
            if out is cars:
                out = cars.copy()
            out[field] = column.cat.add_categories([typical])
    return out


def reference(cars: pd.DataFrame, defaults: dict, km_per_year: float) -> pd.DataFrame:
    """The reference car of each row: typical mileage for its age, typical condition. `cars`
    as `with_typical_categories` returns them."""
    ref = cars.copy()
    age_years = ((ref["valuation_date"] - ref["first_registration"]).dt.days / 365.25).clip(lower=0)
    ref["mileage_km"] = (age_years * km_per_year).round(0)
    ref["condition_score"] = defaults.get("condition_score")
    ref["flood_damage"], ref["fire_damage"] = False, False
    ref["battery_soh_pct"] = np.nan  # filled with the SOH expected for age and mileage
    ref["transfer_count"] = defaults.get("transfer_count")
    for field, typical in TYPICAL:
        column = cars[field]
        if isinstance(column.dtype, pd.CategoricalDtype):
            code = -1 if typical is None else column.cat.categories.get_loc(typical)
            ref[field] = pd.Categorical.from_codes(np.full(len(cars), code), dtype=column.dtype)
        else:
            ref[field] = typical
    return ref


def counterfactual_rows(cars: pd.DataFrame, defaults: dict, km_per_year: float
                        ) -> tuple[pd.DataFrame, np.ndarray]:
    """Every row the breakdowns and the residual forecasts of `cars` value, as one frame (one
    valuation call, one model pool): the reference car and the breakdown stages before the
    last (the last stage is the car itself, which is valued already), then the car at each of
    RESIDUAL_MONTHS. A stage whose group's fields the car shares with the reference (no
    damage, region unknown, ...) is the row before it again: it is left out, and its value is
    that row's (as `single.value_one` does for one car). Returns the rows and, for each of the
    `len(GROUPS) + len(RESIDUAL_MONTHS)` blocks of `len(cars)` values, where each value is
    among the rows (`explained` takes both).

    Built as one frame, not one per stage: every row is its car's row (one `take`), then each
    group's fields hold the reference's values in the stages before the group's own, and the
    later cars age and drive (`_age`)."""
    cars = with_typical_categories(cars).reset_index(drop=True)
    n = len(cars)
    ref = reference(cars, defaults, km_per_year)
    # per kept row: its car and its stage (0 the reference, k after the k-th group)
    car_of, stage_of, where, size = [np.arange(n)], [np.zeros(n, np.int64)], [np.arange(n)], n
    for k, (_, fields) in enumerate(GROUPS[:-1], start=1):
        changed = np.flatnonzero(~_same(ref, cars, fields))  # stage k-1 holds ref's fields
        at = where[-1].copy()  # a repeated stage's value is the row before it
        if len(changed):
            car_of.append(changed)
            stage_of.append(np.full(len(changed), k))
            at[changed] = size + np.arange(len(changed))
            size += len(changed)
        where.append(at)
    for _ in RESIDUAL_MONTHS:
        where.append(size + np.arange(n))
        size += n
    later = len(RESIDUAL_MONTHS) * n
    car_at = np.concatenate([*car_of, np.tile(np.arange(n), len(RESIDUAL_MONTHS))])
    stage_at = np.concatenate([*stage_of, np.full(later, len(GROUPS))])
    rows = cars.take(car_at).reset_index(drop=True)
    typical = ref[[field for _, fields in GROUPS for field in fields]].take(car_at)
    typical = typical.reset_index(drop=True)
    for k, (_, fields) in enumerate(GROUPS, start=1):
        own = stage_at >= k
        for field in fields:
            rows[field] = rows[field].where(own, typical[field])
    _age(rows, size - later, km_per_year)
    return rows, np.concatenate(where)


def _same(stage: pd.DataFrame, cars: pd.DataFrame, fields: tuple[str, ...]) -> np.ndarray:
    """Per row: the stage and the car hold the same values in `fields` (both missing counts as
    the same), so the stage with the car's values is the same row as the stage."""
    same = np.ones(len(cars), dtype=bool)
    for field in fields:
        a, b = stage[field], cars[field]
        equal = (a == b).fillna(False).to_numpy(dtype=bool)
        same &= equal | (a.isna().to_numpy() & b.isna().to_numpy())
    return same


def explained(values: np.ndarray, where: np.ndarray, car_values: np.ndarray,
              learned: dict[str, bool]) -> tuple[list[dict], np.ndarray]:
    """The breakdown of each car (`compose`) and its residual values (one row per car, at
    RESIDUAL_MONTHS, never above the previous horizon) from the values of the rows of
    `counterfactual_rows` (`where`: its second result) and of the cars themselves."""
    blocks = values[where].reshape(len(GROUPS) + len(RESIDUAL_MONTHS), len(car_values))
    stages = np.vstack([blocks[:len(GROUPS)], car_values])
    return compose(stages, learned), np.minimum.accumulate(blocks[len(GROUPS):], axis=0).T


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


def _age(rows: pd.DataFrame, start: int, km_per_year: float) -> None:
    """Rows from `start` on: the cars, once for each of RESIDUAL_MONTHS in turn, aged in place
    to +12/+24/+36 months, having driven `km_per_year` more a year, valued at today's market
    (the valuation date stays)."""
    later = rows.iloc[start:].reset_index(drop=True)
    n = len(later) // len(RESIDUAL_MONTHS)
    months = np.repeat(np.array(RESIDUAL_MONTHS, dtype=np.int64), n)
    registered = pd.concat([later["first_registration"].iloc[:n] - pd.DateOffset(months=m)
                            for m in RESIDUAL_MONTHS], ignore_index=True)
    mileage = later["mileage_km"]
    driven = (mileage + km_per_year * months / 12).clip(upper=1_999_999)
    aged = {"first_registration": registered, "mileage_km": driven}
    if "battery_soh_pct" in rows:
        age = (later["valuation_date"] - registered).dt.days / 30.4375
        drop = priors.expected_soh(age - months, mileage) - priors.expected_soh(age, driven)
        aged["battery_soh_pct"] = later["battery_soh_pct"] - drop
    for field, values in aged.items():
        rows.loc[start:, field] = values.to_numpy()
