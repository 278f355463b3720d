"""The one input check in front of `decide` and `decide_frame`: the same rules, row by row
or vectorised, so that production and simulation refuse exactly the same applications.

An application is refused (ApplicationError naming the field) when a number is outside its
bounds, it has neither a customer score nor a tier, it names a customer tier, dealer tier or
product the strategy does not have, or its valuation confidence level is unknown. A term
outside the product's range is not an input error: the engine declines it (TERM_NOT_OFFERED).
"""
from __future__ import annotations

import datetime as dt
import operator
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .document import MAX_MONEY, Strategy

if TYPE_CHECKING:
    from .engine import Application, ValuationInput

ZERO, ONE = Decimal(0), Decimal(1)
CONFIDENCE_LEVELS = ("low", "medium", "high")
FLAGS = ("is_new", "flood_damage", "fire_damage")
USAGES = ("private", "commercial", "ride_hailing", "rental", "other")
# field -> (minimum, maximum), inclusive; the frame's column names
BOUNDS: dict[str, tuple[int, int]] = {
    "declared_price": (1, MAX_MONEY),
    "down_payment": (0, MAX_MONEY),
    "term_months": (1, 120),
    "monthly_income": (0, MAX_MONEY),
    "monthly_debt_payments": (0, MAX_MONEY),
    "valuation": (1, MAX_MONEY),
    "mileage_km": (0, 2_000_000),
    "customer_score": (0, 1000),
}


class ApplicationError(ValueError):
    """An application the strategy cannot decide; `field` names the offending input."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def _outside(name: str, value: float | int) -> str:
    low, high = BOUNDS[name]
    return f"{name} {value} is outside {low:,}..{high:,}"


def check_application(app: Application, val: ValuationInput, strategy: Strategy) -> None:
    """Raise ApplicationError for an application `decide` must not decide."""
    _check_values(app, val)
    _check_references(app, val, strategy)


# checked in this order (the first bad one is reported); the valuation's value comes between
_MONEY = ("declared_price", "down_payment", "term_months", "monthly_income",
          "monthly_debt_payments")
_CAR = ("mileage_km", "customer_score")
_MONEY_VALUES, _CAR_VALUES = operator.attrgetter(*_MONEY), operator.attrgetter(*_CAR)
_BOUNDS = tuple((name, *BOUNDS[name]) for name in _MONEY + ("valuation",) + _CAR)


def _check_values(app: Application, val: ValuationInput) -> None:
    values = (*_MONEY_VALUES(app), val.value, *_CAR_VALUES(app))
    for (name, low, high), value in zip(_BOUNDS, values, strict=True):
        if value is None:
            if name != "customer_score":
                raise ApplicationError(name, f"{name} is missing")
        elif not low <= value <= high:
            raise ApplicationError(name, _outside(name, value))
    _check_kinds(app)


def _check_kinds(app: Application) -> None:
    for name in FLAGS:
        if not isinstance(getattr(app, name), bool):
            raise ApplicationError(name, f"{name} must be true or false")
    if app.down_payment > app.declared_price:
        raise ApplicationError("down_payment", "down payment above the declared price")
    if not ZERO <= app.annual_rate <= ONE:
        raise ApplicationError("annual_rate", f"annual_rate {app.annual_rate} is outside 0..1")
    if app.usage is not None and app.usage not in USAGES:
        raise ApplicationError("usage", f"unknown usage {app.usage!r}")
    if not isinstance(app.first_registration, dt.date) or \
            not isinstance(app.decision_date, dt.date):
        raise ApplicationError("first_registration", "dates must be dates")


def _check_references(app: Application, val: ValuationInput, strategy: Strategy) -> None:
    if app.customer_tier is None and app.customer_score is None:
        raise ApplicationError("customer", "give a score or a tier")
    if app.customer_tier is not None and strategy.customer_tier(app.customer_tier) is None:
        raise ApplicationError("customer.tier", f"tier {app.customer_tier!r} is not in the "
                                                f"strategy ({', '.join(strategy.customer_tiers)})")
    if app.dealer_tier is not None and strategy.dealer_tier(app.dealer_tier) is None:
        raise ApplicationError("dealer.tier", f"tier {app.dealer_tier!r} is not in the "
                                              f"strategy ({', '.join(strategy.dealer_tiers)})")
    product = app.product or strategy.default_product
    if product not in strategy.products:
        raise ApplicationError("product", f"unknown product {product!r}")
    if val.confidence_level not in CONFIDENCE_LEVELS:
        raise ApplicationError("confidence_level",
                               f"unknown confidence level {val.confidence_level!r}")


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _refuse(mask: np.ndarray, field: str, message: str) -> None:
    row = _first(mask)
    if row is not None:
        raise ApplicationError(field, f"row {row}: {message} ({int(mask.sum())} rows)")


def check_frame(frame: pd.DataFrame, strategy: Strategy) -> None:
    """The same rules as `check_application` over a frame; the error names the first bad row."""
    for name, (low, high) in BOUNDS.items():
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(values)
        if name == "customer_score":
            bad = ~missing & ((values < low) | (values > high))
        else:
            bad = missing | (values < low) | (values > high)
        _refuse(bad, name, f"{name} missing or outside {low:,}..{high:,}")
    for name in FLAGS:
        _refuse((~frame[name].isin([True, False])).to_numpy(), name,
                f"{name} must be true or false")
    down = frame["down_payment"].to_numpy(dtype=float)
    _refuse(down > frame["declared_price"].to_numpy(dtype=float), "down_payment",
            "down payment above the declared price")
    rate = pd.to_numeric(frame["annual_rate"], errors="coerce").to_numpy(dtype=float)
    _refuse(np.isnan(rate) | (rate < 0) | (rate > 1), "annual_rate",
            "annual_rate outside 0..1")
    usage = frame["usage"]
    _refuse((usage.notna() & ~usage.isin(USAGES)).to_numpy(), "usage", "unknown usage")
    tier, score = frame["customer_tier"], frame["customer_score"]
    _refuse((tier.isna() & score.isna()).to_numpy(), "customer", "give a score or a tier")
    known = [*strategy.customer_tiers, *strategy.customer_tier_renames]
    _refuse((tier.notna() & ~tier.isin(known)).to_numpy(),
            "customer.tier", f"tier not in the strategy ({', '.join(strategy.customer_tiers)})")
    dealer = frame["dealer_tier"]
    known = [*strategy.dealer_tiers, *strategy.dealer_tier_renames]
    _refuse((dealer.notna() & ~dealer.isin(known)).to_numpy(),
            "dealer.tier", f"tier not in the strategy ({', '.join(strategy.dealer_tiers)})")
    product = frame["product"].fillna(strategy.default_product)
    _refuse((~product.isin(list(strategy.products))).to_numpy(), "product",
            "unknown product")
    _refuse((~frame["confidence_level"].isin(CONFIDENCE_LEVELS)).to_numpy(),
            "confidence_level", "unknown confidence level")
    for name in ("first_registration", "decision_date"):
        dates = pd.to_datetime(frame[name], errors="coerce")
        _refuse(dates.isna().to_numpy(), name, "missing or invalid date")
