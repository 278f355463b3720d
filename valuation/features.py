"""The feature contract: the model's columns and how canonical records become model input.

Training, batch prediction and the API all call `model_input`, so there is no
training/serving skew. A model card stores CONTRACT_VERSION and FEATURES; loading
refuses a model whose card disagrees (see registry.check_card).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .record import COMMERCIAL_USAGE, NEV_ENERGY

CONTRACT_VERSION = "1"
DAYS_PER_MONTH = 365.25 / 12
MISSING_CATEGORY = "NA"

CATEGORICAL: tuple[str, ...] = (
    "brand", "series", "variant", "body_type", "energy_type", "transmission",
    "usage", "accident", "region", "color",
)
NUMERIC: tuple[str, ...] = (
    "age_months", "mileage_km", "model_year", "displacement_l", "power_kw", "battery_kwh",
    "range_km", "battery_soh_pct", "log_new_price", "transfer_count", "condition_score",
    "flood_damage", "fire_damage", "is_nev", "valuation_month",
)
FEATURES: tuple[str, ...] = CATEGORICAL + NUMERIC
# Other things equal, value must not rise with age or mileage, nor fall with condition.
MONOTONE: dict[str, int] = {"age_months": -1, "mileage_km": -1, "condition_score": 1}


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
    out["valuation_month"] = ((vd.dt.year - 2000) * 12 + vd.dt.month - 1).astype("float64")
    if "price" in out.columns:
        out["retention"] = out["price"] / out["new_price"]
    return out


def model_input(derived: pd.DataFrame) -> pd.DataFrame:
    """Exactly the model's columns, in contract order and dtypes."""
    data = {}
    for name in CATEGORICAL:
        data[name] = derived[name].astype("string").fillna(MISSING_CATEGORY).astype(str)
    for name in NUMERIC:
        data[name] = pd.to_numeric(derived[name], errors="coerce").astype("float64")
    return pd.DataFrame(data, index=derived.index)


def target(derived: pd.DataFrame) -> np.ndarray:
    """The training target: log price."""
    return np.log(derived["price"].to_numpy(dtype="float64"))
