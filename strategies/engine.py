"""The pure decision function: application + valuation + strategy -> decision, step by step.

Money is whole currency units held as `int`; ratios are `Decimal` and enter the arithmetic
as integer basis points (1/10,000), so every multiplication is exact and every rounding is
explicit: amounts that cap a loan are rounded down (floor). The annuity factor is the one
float, computed by repeated multiplication so that `decide` and `decide_frame` (numpy)
perform the same IEEE operations and agree exactly.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from .applications import ApplicationError as ApplicationError
from .applications import check_application
from .document import Strategy
from .document import bps as bps
from .facts import Facts, vehicle_facts

BPS = 10_000
MAX_PRINCIPAL_REASONS = 4
DECLINE, REFER, APPROVE = "decline", "refer", "approve"


@dataclass(frozen=True)
class Application:
    """What underwriting sends, with the vehicle facts the rules need. Money in whole units."""

    application_id: str
    declared_price: int
    down_payment: int
    term_months: int
    annual_rate: Decimal
    is_new: bool  # as asserted; the engine checks it against the car (facts.py)
    energy_type: str
    usage: str | None  # None: not given, treated as commercial
    first_registration: dt.date
    mileage_km: float
    flood_damage: bool
    fire_damage: bool
    monthly_income: int
    monthly_debt_payments: int
    decision_date: dt.date
    customer_score: int | None = None
    customer_tier: str | None = None
    dealer_tier: str | None = None  # None: unknown dealer -> the most cautious tier
    product: str | None = None


@dataclass(frozen=True)
class ValuationInput:
    """The independent valuation the decision relies on."""

    value: int
    confidence_level: str


class Step(NamedTuple):
    """One step of a decision: the amount before and after it and the reason it cut."""

    name: str
    before: int | None
    after: int | None
    reason: str | None
    detail: str


class Decision(NamedTuple):
    """The outcome of `decide`: every amount, the ranked reasons and the steps."""

    outcome: str
    segment: str
    customer_tier: str
    dealer_tier: str
    recognized_price: int
    price_gap_pct: Decimal
    ltv: Decimal
    requested_amount: int
    limit_before_adjustments: int
    final_limit: int
    reasons: tuple[str, ...]  # ranked principal reasons, at most four
    steps: tuple[Step, ...] = ()
    facts: Facts | None = None


def facts_of(app: Application) -> Facts:
    return vehicle_facts(app.is_new, app.energy_type, app.usage, app.first_registration,
                         app.mileage_km, app.decision_date)


def customer_tier(strategy: Strategy, score: int | None, tier: str | None) -> str:
    """The given tier, else the first score band the score reaches (checked inputs)."""
    if tier is not None:
        known = strategy.customer_tier(tier)
        assert known is not None
        return known
    assert score is not None
    for band in strategy.score_bands:
        if score >= band.min_score:
            return band.tier
    return strategy.customer_tiers[-1]


def gap_bps(declared: int, basis: int) -> int:
    """(declared - basis) / basis in whole basis points, rounded half to even."""
    q, r = divmod((declared - basis) * BPS, basis)
    return q + (1 if 2 * r > basis or (2 * r == basis and q % 2 == 1) else 0)


@functools.lru_cache(maxsize=4096)
def annuity_factor(annual_rate: Decimal, term_months: int) -> float:
    """Present value of 1 a month for `term_months` months at `annual_rate` / 12 a month."""
    monthly = float(annual_rate) / 12
    if monthly == 0:
        return float(term_months)
    growth = 1.0
    for _ in range(term_months):
        growth = growth * (1.0 + monthly)
    return (1.0 - 1.0 / growth) / monthly


def age_months(first_registration: dt.date, on: dt.date) -> int:
    return (on.year - first_registration.year) * 12 + on.month - first_registration.month


def _hard_rules(app: Application, val: ValuationInput, strategy: Strategy,
                segment: str, product_name: str) -> tuple[list[str], list[str], list[Step]]:
    rules = strategy.hard_rules
    product = strategy.products[product_name]
    declines: list[str] = []
    refers: list[str] = []
    if segment not in rules.segments_offered:
        declines.append("SEGMENT_NOT_OFFERED")
    if not product.min_term_months <= app.term_months <= product.max_term_months:
        declines.append("TERM_NOT_OFFERED")
    if app.flood_damage and rules.decline_flood_damage:
        declines.append("DECLINE_FLOOD_DAMAGE")
    if app.fire_damage and rules.decline_fire_damage:
        declines.append("DECLINE_FIRE_DAMAGE")
    end_age = age_months(app.first_registration, app.decision_date) + app.term_months
    if end_age > rules.max_age_at_term_end_months:
        declines.append("DECLINE_VEHICLE_AGE")
    if app.mileage_km > rules.max_mileage_km:
        declines.append("DECLINE_MILEAGE")
    if val.confidence_level in rules.refer_confidence_levels:
        refers.append("REFER_LOW_CONFIDENCE")
    steps = [Step("hard_rules", None, None, code, "hard rule") for code in declines + refers]
    return declines, refers, steps


def _cap(steps: list[Step], cuts: dict[str, int], name: str, amount: int, cap: int,
         reason: str, detail: str) -> int:
    after = min(amount, cap)
    # Step._make: a NamedTuple's keyword-capable constructor costs twice as much, and a
    # decision builds about ten steps
    steps.append(Step._make((name, amount, after, reason if after < amount else None, detail)))
    if after < amount:
        cuts[reason] = cuts.get(reason, 0) + amount - after
    return after


def _adjust(app: Application, strategy: Strategy, product_name: str, amount: int,
            steps: list[Step], cuts: dict[str, int], declines: list[str]) -> int:
    """The business limit adjustments (业务调额), in the strategy's order."""
    product = strategy.products[product_name]
    factor = annuity_factor(app.annual_rate, app.term_months)
    for adj in strategy.adjustments:
        if adj.type in ("payment_to_income", "debt_to_income"):
            payment = app.monthly_income * adj.max_bps // BPS
            if adj.type == "debt_to_income":
                payment = max(payment - app.monthly_debt_payments, 0)
            code = "PTI_CAP" if adj.type == "payment_to_income" else "DTI_CAP"
            amount = _cap(steps, cuts, adj.type, amount, int(payment * factor), code,
                          f"instalment <= {payment} a month over {app.term_months} months")
        elif adj.type == "product_bounds":
            amount = _cap(steps, cuts, "product_max", amount, product.max_amount, "PRODUCT_MAX",
                          f"{product_name} maximum {product.max_amount}")
        else:
            assert adj.unit is not None
            amount = _cap(steps, cuts, "round_down", amount, amount // adj.unit * adj.unit,
                          "ROUNDING", f"down to a multiple of {adj.unit}")
    if amount < product.min_amount:  # on the final amount, after any rounding
        declines.append("BELOW_PRODUCT_MIN")
        steps.append(Step("product_min", amount, 0, "BELOW_PRODUCT_MIN",
                          f"{product_name} minimum {product.min_amount}"))
    return amount


def grid_limit(declared: int, requested: int, basis: int, tol_bps: int, ltv_bps: int,
               is_new: bool, reg_bps: int) -> tuple[int, int, int, int]:
    """Recognised price, then the amount after the LTV cap on the declared price, on the
    recognised price and the regulatory cap (on the recognised price for a new car, else on
    min(declared, valuation)). `decide` and `decide_frame` share these formulas."""
    recognized = min(declared, basis * (BPS + tol_bps) // BPS)
    after_ltv = min(requested, declared * ltv_bps // BPS)
    after_price = min(after_ltv, recognized * ltv_bps // BPS)
    reg_basis = recognized if is_new else min(declared, basis)
    return recognized, after_ltv, after_price, min(after_price, reg_basis * reg_bps // BPS)


def _fact_steps(facts: Facts) -> list[Step]:
    steps = []
    if facts.new_claim_rejected:
        steps.append(Step("facts", None, None, "NEW_CLAIM_REJECTED",
                          "asserted new, but registered or driven beyond a new car: used"))
    if facts.usage_unknown:
        steps.append(Step("facts", None, None, "USAGE_UNKNOWN",
                          "usage not given: commercial treatment"))
    return steps


def rank_reasons(declines: list[str], refers: list[str], cuts: dict[str, int],
                 unknown_dealer: bool) -> tuple[str, ...]:
    """Declines and refers first, then every cut by its size (ties by name); an unknown
    dealer's fallback is a cut like the others, listed last when it cut nothing."""
    ranked = sorted(cuts, key=lambda code: (-cuts[code], code)) if len(cuts) > 1 else cuts
    codes = declines + refers + [code for code in ranked if cuts[code] > 0]
    if unknown_dealer:
        codes.append("DEALER_TIER_UNKNOWN")
    return tuple(dict.fromkeys(codes))[:MAX_PRINCIPAL_REASONS]


def decide(app: Application, val: ValuationInput, strategy: Strategy) -> Decision:
    """Hard rules, recognised price, LTV caps, adjustments in order, final limit, outcome."""
    check_application(app, val, strategy)
    facts = facts_of(app)
    segment = facts.segment
    ctier = customer_tier(strategy, app.customer_score, app.customer_tier)
    product_name = app.product or strategy.default_product
    declines, refers, steps = _hard_rules(app, val, strategy, segment, product_name)
    steps = _fact_steps(facts) + steps
    dtier = (strategy.dealer_tier(app.dealer_tier) if app.dealer_tier is not None
             else strategy.most_cautious_dealer_tier)
    assert dtier is not None
    cuts: dict[str, int] = {}
    tol = strategy.price_tolerance[segment][ctier][dtier]
    ltv = strategy.ltv_max[segment][ctier][dtier]
    tol_bps, ltv_bps = strategy.cell_bps[(segment, ctier, dtier)]
    basis = val.value
    reg_cap = facts.regulatory_cap
    requested = app.declared_price - app.down_payment
    recognized, after_ltv, after_price, after_reg = grid_limit(
        app.declared_price, requested, basis, tol_bps, ltv_bps, facts.is_new, bps(reg_cap))
    steps.append(Step._make(("recognized_price", app.declared_price, recognized,
                             "PRICE_CAPPED" if recognized < app.declared_price else None,
                             f"valuation {basis} x (1 + {tol!s})")))
    gap_in_bps = gap_bps(app.declared_price, basis)
    gap = Decimal(gap_in_bps).scaleb(-4)
    if gap_in_bps > strategy.refer_gap_bps:
        refers.append("PRICE_GAP_EXCESSIVE")
        steps.append(Step("price_gap", None, None, "PRICE_GAP_EXCESSIVE",
                          f"declared {gap:.2%} above the valuation > {strategy.refer_gap:.0%}"))
    amount = _cap(steps, cuts, "ltv", requested, after_ltv, "LTV_CAP",
                  f"LTV {ltv!s} on the declared price")
    amount = _cap(steps, cuts, "price_cap", amount, after_price, "PRICE_CAPPED",
                  f"LTV {ltv!s} on the recognised price {recognized}")
    reg_basis = recognized if facts.is_new else min(app.declared_price, basis)
    amount = _cap(steps, cuts, "regulatory_ltv", amount, after_reg, "REGULATORY_LTV_CAP",
                  f"regulatory {reg_cap!s} on {reg_basis}")
    if app.dealer_tier is None:
        best = strategy.dealer_tiers[0]
        with_best = grid_limit(app.declared_price, requested, basis,
                               *strategy.cell_bps[(segment, ctier, best)], facts.is_new,
                               bps(reg_cap))[3]
        cuts["DEALER_TIER_UNKNOWN"] = max(with_best - amount, 0)
        steps.append(Step("dealer_tier", with_best, amount, "DEALER_TIER_UNKNOWN",
                          f"unknown dealer: most cautious tier {dtier} instead of {best}"))
    before_adjustments = amount
    amount = _adjust(app, strategy, product_name, amount, steps, cuts, declines)
    outcome = DECLINE if declines else (REFER if refers else APPROVE)
    final = 0 if declines else max(amount, 0)
    # in Decision's field order (_make: positional, half the cost of the keyword constructor)
    return Decision._make((outcome, segment, ctier, dtier, recognized, gap, ltv, requested,
                           before_adjustments, final,
                           rank_reasons(declines, refers, cuts, app.dealer_tier is None),
                           tuple(steps), facts))
