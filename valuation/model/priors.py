"""Prior condition adjustments: effects the training data cannot teach, applied as explicit factors.

At training time each condition field is checked: if the data varies enough in it, the
model learns the effect and the prior is off; otherwise the prior below is stored in the
card as applied, and the predictor multiplies the learned value by its factor. Every
applied prior is reported per valuation (breakdown, warnings), so it is never hidden.

Sources of the rules of thumb (documented here, stored with each model):
- battery SOH: about 0.5 % of value per percentage point of SOH away from the SOH
  expected for the car's age and mileage; expected SOH falls about 1.8 points a year
  (fleet telematics studies, e.g. Geotab 2024) and about 1 point per 50,000 km.
- flood (泡水车) and fire (火烧车) damage: Chinese dealer practice marks such cars down
  by 30-50 %; we take 30 % and 40 %.
- accidents: minor (cosmetic/bolt-on repair) 5 %, structural (frame/pillar) 20 %.
- transfers: 2 % per ownership transfer beyond the first, at most 10 %.
- usage: ride-hailing 10 %, other commercial 8 %, rental 5 % below private use.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

SOH_VALUE_PER_POINT = 0.005
SOH_LOSS_PER_YEAR = 1.8
SOH_LOSS_PER_50K_KM = 1.0
SOH_FLOOR = 60.0
SOH_FACTOR_BOUNDS = (0.75, 1.10)
FLOOD_FACTOR = 0.70
FIRE_FACTOR = 0.60
ACCIDENT_FACTORS = {"none": 1.0, "minor": 0.95, "structural": 0.80}
TRANSFER_STEP, TRANSFER_FLOOR = 0.02, 0.90
USAGE_FACTORS = {"private": 1.0, "commercial": 0.92, "ride_hailing": 0.90, "rental": 0.95,
                 "other": 1.0}

# Breakdown group of each prior (see the valuation breakdown).
GROUPS = {"battery_soh_pct": "battery", "flood_damage": "accident_damage",
          "fire_damage": "accident_damage", "accident": "accident_damage",
          "transfer_count": "transfers_usage", "usage": "transfers_usage"}
RULES = {
    "battery_soh_pct": "0.5% of value per SOH point vs expected SOH "
                       "(100 - 1.8/yr - 1 per 50,000 km, floor 60), factor within 0.75-1.10",
    "flood_damage": "flood-damaged: x0.70",
    "fire_damage": "fire-damaged: x0.60",
    "accident": "minor x0.95, structural x0.80",
    "transfer_count": "x(1 - 2% per transfer beyond the first), floor x0.90",
    "usage": "ride_hailing x0.90, commercial x0.92, rental x0.95",
}
MIN_ROWS_PER_LEVEL = 30


def expected_soh(age_months: pd.Series, mileage_km: pd.Series) -> pd.Series:
    """The SOH a typical pack has at this age and mileage."""
    soh = 100 - SOH_LOSS_PER_YEAR * age_months / 12 - SOH_LOSS_PER_50K_KM * mileage_km / 50_000
    return soh.clip(lower=SOH_FLOOR)


def _learnable(col: pd.Series) -> bool:
    """Enough variation to learn from: two or more values each seen MIN_ROWS_PER_LEVEL times."""
    counts = col.dropna().astype(str).value_counts()
    return int((counts >= MIN_ROWS_PER_LEVEL).sum()) >= 2


def plan(derived: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Decide per condition field whether the model learns it or the prior applies."""
    out = {}
    for field, rule in RULES.items():
        col = derived[field]
        if field == "battery_soh_pct":
            learned = bool(col.notna().sum() >= 10 * MIN_ROWS_PER_LEVEL and col.std() > 1)
        else:
            learned = _learnable(col)
        out[field] = {"applied": not learned, "rule": rule, "group": GROUPS[field]}
    return out


def factors(derived: pd.DataFrame, priors: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One multiplicative factor column per applied prior (1.0 where it does not bite)."""
    out = pd.DataFrame(index=derived.index)
    for field, spec in priors.items():
        if not spec["applied"]:
            continue
        if field == "battery_soh_pct":
            gap = derived["battery_soh_pct"] - expected_soh(derived["age_months"],
                                                            derived["mileage_km"])
            factor = (1 + SOH_VALUE_PER_POINT * gap).clip(*SOH_FACTOR_BOUNDS)
            factor = factor.where(derived["is_nev"] == 1)
        elif field in ("flood_damage", "fire_damage"):
            flagged = derived[field].astype("boolean").fillna(False).to_numpy(dtype=bool)
            damaged = FLOOD_FACTOR if field == "flood_damage" else FIRE_FACTOR
            factor = pd.Series(np.where(flagged, damaged, 1.0), index=derived.index)
        elif field == "accident":
            factor = derived[field].map(ACCIDENT_FACTORS)
        elif field == "transfer_count":
            extra = (derived[field] - 1).clip(lower=0)
            factor = (1 - TRANSFER_STEP * extra).clip(lower=TRANSFER_FLOOR)
        else:
            factor = derived[field].map(USAGE_FACTORS)
        out[field] = pd.to_numeric(factor, errors="coerce").astype(float).fillna(1.0)
    return out


def expected_soh_one(age_months: float, mileage_km: float) -> float:
    soh = 100 - SOH_LOSS_PER_YEAR * age_months / 12 - SOH_LOSS_PER_50K_KM * mileage_km / 50_000
    return max(soh, SOH_FLOOR)


def factors_record(derived: dict[str, Any], priors: dict[str, dict[str, Any]]
                   ) -> dict[str, float]:
    """`factors` for one completed record: {field: factor} for each applied prior."""
    out: dict[str, float] = {}
    for field, spec in priors.items():
        if not spec["applied"]:
            continue
        value = derived[field]
        factor: float | None
        if field == "battery_soh_pct":
            factor = None
            if derived["is_nev"] == 1 and value is not None and not math.isnan(value):
                gap = value - expected_soh_one(derived["age_months"], derived["mileage_km"])
                factor = min(max(1 + SOH_VALUE_PER_POINT * gap, SOH_FACTOR_BOUNDS[0]),
                             SOH_FACTOR_BOUNDS[1])
        elif field in ("flood_damage", "fire_damage"):
            damaged = FLOOD_FACTOR if field == "flood_damage" else FIRE_FACTOR
            factor = damaged if value is True else 1.0
        elif field == "accident":
            factor = ACCIDENT_FACTORS.get(value) if value is not None else None
        elif field == "transfer_count":
            factor = None if value is None or math.isnan(value) else max(
                1 - TRANSFER_STEP * max(value - 1, 0), TRANSFER_FLOOR)
        else:
            factor = USAGE_FACTORS.get(value) if value is not None else None
        out[field] = 1.0 if factor is None else float(factor)
    return out


def combined(factor_frame: pd.DataFrame) -> np.ndarray:
    """Product of all prior factors per row."""
    if factor_frame.shape[1] == 0:
        return np.ones(len(factor_frame))
    return factor_frame.prod(axis=1).to_numpy()
