"""Property tests over random strategy documents and applications: `decide` and `decide_frame`
agree row by row, and no limit ever exceeds the regulatory cap written out by hand below."""
import copy
import dataclasses
import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.document import DEFAULT_PATH, default_strategy, load_strategy
from strategies.engine import Application, ApplicationError, ValuationInput, decide
from strategies.frame import decide_frame

STRATEGY = default_strategy()
DEFAULT_DOC = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
NEV = {"bev", "phev", "erev", "fcev"}

# The 2024 notice, by hand: (really new, commercial use, NEV) -> cap; None: the lender decides.
# Unknown usage counts as commercial; a car is really new only if asserted new AND registered
# at most 90 days before the decision with at most 1,000 km.
HAND_CAP = {
    (False, False, False): Decimal("0.70"), (False, False, True): Decimal("0.70"),
    (False, True, False): Decimal("0.70"), (False, True, True): Decimal("0.70"),
    (True, False, False): None, (True, False, True): None,
    (True, True, False): Decimal("0.70"), (True, True, True): Decimal("0.75"),
}
# The most any LTV cell of a segment may be, by hand (commercial segments hold used cars too).
HAND_SEGMENT_MAX = {"new_ice": Decimal(1), "new_nev": Decimal(1), "used_ice": Decimal("0.70"),
                    "used_nev": Decimal("0.70"), "commercial_ice": Decimal("0.70"),
                    "commercial_nev": Decimal("0.70")}


def hand_cap_holds(app: Application, val: ValuationInput, final_limit: int) -> bool:
    really_new = (app.is_new and (app.decision_date - app.first_registration).days <= 90
                  and app.mileage_km <= 1_000)
    commercial = app.usage in (None, "commercial", "ride_hailing")
    cap = HAND_CAP[(really_new, commercial, app.energy_type in NEV)]
    if cap is None:
        return final_limit <= app.declared_price - app.down_payment
    basis = app.declared_price if really_new else min(app.declared_price, val.value)
    return final_limit <= cap * basis


def ratio(draw: st.DrawFn, low: int, high: int) -> Decimal:
    """A ratio with at most four decimals, in [low, high] basis points."""
    return Decimal(draw(st.integers(low, high))) / 10_000


@st.composite
def documents(draw: st.DrawFn) -> dict:
    doc = copy.deepcopy(DEFAULT_DOC)
    for seg, cells in doc["ltv_max"].items():
        top = int(HAND_SEGMENT_MAX[seg] * 10_000)
        for ct in cells:
            for dtier in cells[ct]:
                cells[ct][dtier] = str(ratio(draw, 0, top))
                doc["price_tolerance"][seg][ct][dtier] = str(ratio(draw, -5_000, 5_000))
    doc["refer_gap"] = str(ratio(draw, 0, 50_000))
    income = draw(st.permutations(["payment_to_income", "debt_to_income"]))
    income = income[: draw(st.integers(0, 2))]
    adjustments = [{"type": t, "max_ratio": str(ratio(draw, 1, 10_000))} for t in income]
    adjustments.append({"type": "product_bounds"})
    if draw(st.booleans()):
        adjustments.append({"type": "round_down", "unit": draw(st.sampled_from([1, 7, 100, 1000]))})
    doc["adjustments"] = adjustments
    low_term = draw(st.integers(1, 60))
    min_amount = draw(st.integers(0, 50_000))
    doc["products"]["standard"] = {
        "min_amount": min_amount, "max_amount": draw(st.integers(max(min_amount, 1), 3_000_000)),
        "min_term_months": low_term, "max_term_months": draw(st.integers(low_term, 120))}
    doc["hard_rules"]["max_age_at_term_end_months"] = draw(st.integers(12, 360))
    doc["hard_rules"]["segments_offered"] = draw(st.lists(
        st.sampled_from(sorted(HAND_SEGMENT_MAX)), min_size=1, unique=True))
    return doc


@st.composite
def cases(draw: st.DrawFn, ctiers=STRATEGY.customer_tiers, dtiers=STRATEGY.dealer_tiers
          ) -> tuple[Application, ValuationInput]:
    value = draw(st.integers(1_000, 3_000_000))
    declared = draw(st.integers(max(value // 2, 1), value * 2))
    decided = dt.date(2024, 1, 1) + dt.timedelta(days=draw(st.integers(0, 1_500)))
    registered = decided - dt.timedelta(days=draw(st.sampled_from(
        [0, 30, 90, 91, 400, 2_000, draw(st.integers(0, 6_000))])))
    app = Application(
        application_id=str(draw(st.integers(0, 10**9))),
        declared_price=declared,
        down_payment=draw(st.integers(0, declared)),
        term_months=draw(st.integers(1, 120)),
        annual_rate=Decimal(draw(st.integers(0, 3_000))) / 10_000,
        is_new=draw(st.booleans()),
        energy_type=draw(st.sampled_from(["petrol", "diesel", "hev", "bev", "phev", "erev",
                                          "fcev", "gas"])),
        usage=draw(st.sampled_from([None, "private", "commercial", "ride_hailing", "rental",
                                    "other"])),
        first_registration=registered,
        mileage_km=draw(st.sampled_from([0, 500, 1_000, 1_001, draw(st.integers(0, 400_000))])),
        flood_damage=draw(st.booleans()), fire_damage=draw(st.booleans()),
        monthly_income=draw(st.integers(0, 10**9)),
        monthly_debt_payments=draw(st.integers(0, 10**6)),
        decision_date=decided,
        customer_score=draw(st.none() | st.integers(0, 1000)),
        customer_tier=draw(st.sampled_from([None, *ctiers])),
        dealer_tier=draw(st.sampled_from([None, *dtiers])),
    )
    if app.customer_score is None and app.customer_tier is None:
        app = dataclasses.replace(app, customer_score=draw(st.integers(0, 1000)))
    return app, ValuationInput(value, draw(st.sampled_from(["high", "medium", "low"])))


def as_row(app: Application, val: ValuationInput) -> dict:
    row = dataclasses.asdict(app)
    row.update(valuation=val.value, confidence_level=val.confidence_level)
    return row


def assert_agree(batch: list, strategy) -> None:
    frame = decide_frame(pd.DataFrame([as_row(a, v) for a, v in batch]), strategy)
    for (app, val), row in zip(batch, frame.itertuples(), strict=True):
        d = decide(app, val, strategy)
        assert (row.outcome, row.segment, row.customer_tier, row.dealer_tier) == (
            d.outcome, d.segment, d.customer_tier, d.dealer_tier)
        assert (row.recognized_price, row.requested_amount, row.limit_before_adjustments,
                row.final_limit) == (d.recognized_price, d.requested_amount,
                                     d.limit_before_adjustments, d.final_limit)
        assert row.price_gap_bps == int(d.price_gap_pct * 10_000)
        assert row.ltv_bps == int(d.ltv * 10_000)
        assert row.reasons == "|".join(d.reasons)
        assert hand_cap_holds(app, val, d.final_limit), (app, val, d.final_limit)
        assert 0 <= d.final_limit and len(d.reasons) <= 4


@settings(max_examples=300, deadline=None)
@given(documents(), st.lists(cases(), min_size=1, max_size=8))
def test_random_documents_decide_and_frame_agree_under_the_hand_cap(doc, batch) -> None:
    assert_agree(batch, load_strategy(doc))


@settings(max_examples=300, deadline=None)
@given(cases())
def test_limit_never_exceeds_the_hand_written_cap(case) -> None:
    app, val = case
    d = decide(app, val, STRATEGY)
    assert hand_cap_holds(app, val, d.final_limit)
    assert d.final_limit <= d.ltv * d.recognized_price
    assert 0 <= d.final_limit <= max(d.requested_amount, 0)


@settings(max_examples=200, deadline=None)
@given(cases(), st.integers(0, 3), st.integers(0, 1))
def test_a_better_tier_never_gets_less(case, worse_customer, worse_dealer) -> None:
    app, val = case
    tiers, dealers = STRATEGY.customer_tiers, STRATEGY.dealer_tiers
    better = dataclasses.replace(app, customer_tier=tiers[worse_customer],
                                 dealer_tier=dealers[worse_dealer])
    worse = dataclasses.replace(app, customer_tier=tiers[worse_customer + 1],
                                dealer_tier=dealers[worse_dealer + 1])
    assert decide(better, val, STRATEGY).final_limit >= decide(worse, val, STRATEGY).final_limit


BAD_INPUTS = [
    (dict(customer_tier=None, customer_score=None), "customer"),
    (dict(customer_tier="Z"), "customer.tier"),
    (dict(dealer_tier="T9"), "dealer.tier"),
    (dict(monthly_income=10**12), "monthly_income"),
    (dict(product="gold"), "product"),
    (dict(usage="boat"), "usage"),
]


@pytest.mark.parametrize("changes, field", BAD_INPUTS, ids=[f for _, f in BAD_INPUTS])
def test_both_engines_refuse_the_same_bad_input(changes, field) -> None:
    app = dataclasses.replace(BASE, **changes)
    val = ValuationInput(100_000, "high")
    with pytest.raises(ApplicationError) as one:
        decide(app, val, STRATEGY)
    with pytest.raises(ApplicationError) as many:
        decide_frame(pd.DataFrame([as_row(BASE, val), as_row(app, val)]), STRATEGY)
    assert one.value.field == many.value.field == field
    assert many.value.message.startswith("row 1:")


BASE = Application(
    application_id="p1", declared_price=100_000, down_payment=30_000, term_months=36,
    annual_rate=Decimal("0.05"), is_new=False, energy_type="petrol", usage="private",
    first_registration=dt.date(2020, 1, 1), mileage_km=50_000, flood_damage=False,
    fire_damage=False, monthly_income=20_000, monthly_debt_payments=0,
    decision_date=dt.date(2025, 1, 1), customer_score=700, customer_tier=None, dealer_tier="T1")
