"""The pure decision function: application + valuation + strategy -> decision, step by step.

Money is whole currency units held as `int`; ratios are `Decimal` and enter the arithmetic
as integer basis points (1/10,000), so every multiplication is exact and every rounding is
explicit: amounts that cap a loan are rounded down (floor). The annuity factor is the one
float, computed by repeated multiplication so that `decide` and `decide_frame` (numpy)
perform the same IEEE operations and agree exactly.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from .document import REGULATORY_LTV_CAP, Strategy

BPS = 10_000
NEV = frozenset({"bev", "phev", "erev", "fcev"})
COMMERCIAL = frozenset({"commercial", "ride_hailing"})
MAX_PRINCIPAL_REASONS = 4
DECLINE, REFER, APPROVE = "decline", "refer", "approve"


class ApplicationError(ValueError):
    """An application the strategy cannot decide; `field` names the offending input."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Application:
    """What underwriting sends, with the vehicle facts the rules need. Money in whole units."""

    application_id: str
    declared_price: int
    down_payment: int
    term_months: int
    annual_rate: Decimal
    is_new: bool
    energy_type: str
    usage: str | None
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


@dataclass(frozen=True)
class Step:
    name: str
    before: int | None
    after: int | None
    reason: str | None
    detail: str


@dataclass(frozen=True)
class Decision:
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
    steps: tuple[Step, ...] = field(default=())


def segment_of(is_new: bool, energy_type: str, usage: str | None) -> str:
    kind = "nev" if energy_type in NEV else "ice"
    if usage in COMMERCIAL:
        return f"commercial_{kind}"
    return f"{'new' if is_new else 'used'}_{kind}"


def customer_tier(strategy: Strategy, score: int | None, tier: str | None) -> str:
    if tier is not None:
        if tier not in strategy.customer_tiers:
            raise ApplicationError("customer.tier", f"tier {tier!r} is not in the strategy "
                                                    f"({', '.join(strategy.customer_tiers)})")
        return tier
    if score is None:
        raise ApplicationError("customer", "give a score or a tier")
    for band in strategy.score_bands:
        if score >= band.min_score:
            return band.tier
    return strategy.customer_tiers[-1]


def bps(ratio: Decimal) -> int:
    """A ratio in whole basis points (grids are validated to at most 4 decimals in effect)."""
    return int((ratio * BPS).to_integral_value())


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
                segment: str) -> tuple[list[str], list[str], list[Step]]:
    rules = strategy.hard_rules
    declines: list[str] = []
    refers: list[str] = []
    if segment not in rules.segments_offered:
        declines.append("SEGMENT_NOT_OFFERED")
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
    steps.append(Step(name, amount, after, reason if after < amount else None, detail))
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
            assert adj.max_ratio is not None
            payment = app.monthly_income * bps(adj.max_ratio) // BPS
            if adj.type == "debt_to_income":
                payment = max(payment - app.monthly_debt_payments, 0)
            code = "PTI_CAP" if adj.type == "payment_to_income" else "DTI_CAP"
            amount = _cap(steps, cuts, adj.type, amount, int(payment * factor), code,
                          f"instalment <= {payment} a month over {app.term_months} months")
        elif adj.type == "product_bounds":
            amount = _cap(steps, cuts, "product_max", amount, product.max_amount, "PRODUCT_MAX",
                          f"{product_name} maximum {product.max_amount}")
            if amount < product.min_amount:
                declines.append("BELOW_PRODUCT_MIN")
                steps.append(Step("product_min", amount, 0, "BELOW_PRODUCT_MIN",
                                  f"{product_name} minimum {product.min_amount}"))
        else:
            assert adj.unit is not None
            amount = _cap(steps, cuts, "round_down", amount, amount // adj.unit * adj.unit,
                          "ROUNDING", f"down to a multiple of {adj.unit}")
    return amount


def decide(app: Application, val: ValuationInput, strategy: Strategy) -> Decision:
    """Hard rules, recognised price, LTV caps, adjustments in order, final limit, outcome."""
    segment = segment_of(app.is_new, app.energy_type, app.usage)
    ctier = customer_tier(strategy, app.customer_score, app.customer_tier)
    product_name = app.product or strategy.default_product
    if product_name not in strategy.products:
        raise ApplicationError("product", f"unknown product {product_name!r}")
    product = strategy.products[product_name]
    if not product.min_term_months <= app.term_months <= product.max_term_months:
        raise ApplicationError("term_months", f"term must be {product.min_term_months}-"
                                              f"{product.max_term_months} months for "
                                              f"{product_name}")
    declines, refers, steps = _hard_rules(app, val, strategy, segment)
    dtier = app.dealer_tier
    if dtier is None:
        dtier = strategy.most_cautious_dealer_tier
        refers_or_info = "DEALER_TIER_UNKNOWN"
        steps.append(Step("dealer_tier", None, None, refers_or_info,
                          f"unknown dealer: most cautious tier {dtier}"))
    elif dtier not in strategy.dealer_tiers:
        raise ApplicationError("dealer.tier", f"tier {dtier!r} is not in the strategy "
                                              f"({', '.join(strategy.dealer_tiers)})")
    cuts: dict[str, int] = {}
    tol = strategy.price_tolerance[segment][ctier][dtier]
    ltv = strategy.ltv_max[segment][ctier][dtier]
    basis = val.value
    cap_price = basis * (BPS + bps(tol)) // BPS
    recognized = min(app.declared_price, cap_price)
    steps.append(Step("recognized_price", app.declared_price, recognized,
                      "PRICE_CAPPED" if recognized < app.declared_price else None,
                      f"valuation {basis} x (1 + {tol}) = {cap_price}"))
    gap = (Decimal(app.declared_price - basis) / Decimal(basis)).quantize(Decimal("0.0001"))
    if gap > strategy.refer_gap:
        refers.append("PRICE_GAP_EXCESSIVE")
        steps.append(Step("price_gap", None, None, "PRICE_GAP_EXCESSIVE",
                          f"declared {gap:.2%} above the valuation > {strategy.refer_gap:.0%}"))
    requested = app.declared_price - app.down_payment
    amount = _cap(steps, cuts, "ltv", requested, app.declared_price * bps(ltv) // BPS,
                  "LTV_CAP", f"LTV {ltv} on the declared price")
    amount = _cap(steps, cuts, "price_cap", amount, recognized * bps(ltv) // BPS,
                  "PRICE_CAPPED", f"LTV {ltv} on the recognised price {recognized}")
    reg_basis = recognized if app.is_new else min(app.declared_price, basis)
    reg_cap = REGULATORY_LTV_CAP[segment]
    amount = _cap(steps, cuts, "regulatory_ltv", amount, reg_basis * bps(reg_cap) // BPS,
                  "REGULATORY_LTV_CAP", f"regulatory {reg_cap} on {reg_basis}")
    before_adjustments = amount
    amount = _adjust(app, strategy, product_name, amount, steps, cuts, declines)
    outcome = DECLINE if declines else (REFER if refers else APPROVE)
    final = 0 if declines else max(amount, 0)
    ranked = sorted(cuts.items(), key=lambda kv: (-kv[1], kv[0]))
    reasons = tuple(dict.fromkeys(declines + refers + [code for code, _ in ranked]))
    if app.dealer_tier is None:
        reasons = reasons + ("DEALER_TIER_UNKNOWN",)
    return Decision(outcome=outcome, segment=segment, customer_tier=ctier, dealer_tier=dtier,
                    recognized_price=recognized, price_gap_pct=gap, ltv=ltv,
                    requested_amount=requested, limit_before_adjustments=before_adjustments,
                    final_limit=final, reasons=reasons[:MAX_PRINCIPAL_REASONS],
                    steps=tuple(steps))
