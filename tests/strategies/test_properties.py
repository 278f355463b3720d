"""Property tests: regulatory caps hold, better tiers never get less, decide_frame == decide."""
import dataclasses
import datetime as dt
from decimal import Decimal

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.document import REGULATORY_LTV_CAP, default_strategy
from strategies.engine import Application, ValuationInput, decide
from strategies.frame import decide_frame

STRATEGY = default_strategy()


@st.composite
def cases(draw: st.DrawFn) -> tuple[Application, ValuationInput]:
    value = draw(st.integers(20_000, 2_000_000))
    declared = draw(st.integers(value // 2, value * 2))
    app = Application(
        application_id=str(draw(st.integers(0, 10**9))),
        declared_price=declared,
        down_payment=draw(st.integers(0, declared)),
        term_months=draw(st.integers(12, 60)),
        annual_rate=Decimal(draw(st.integers(0, 2400))) / 10_000,
        is_new=draw(st.booleans()),
        energy_type=draw(st.sampled_from(["petrol", "diesel", "hev", "bev", "phev", "erev"])),
        usage=draw(st.sampled_from([None, "private", "commercial", "ride_hailing", "rental"])),
        first_registration=dt.date(draw(st.integers(2012, 2024)), draw(st.integers(1, 12)), 1),
        mileage_km=draw(st.integers(0, 400_000)),
        flood_damage=draw(st.booleans()), fire_damage=draw(st.booleans()),
        monthly_income=draw(st.integers(0, 200_000)),
        monthly_debt_payments=draw(st.integers(0, 50_000)),
        decision_date=dt.date(2025, 1, 1),
        customer_score=draw(st.integers(300, 850)),
        customer_tier=draw(st.sampled_from([None, "A", "B", "C", "D", "E"])),
        dealer_tier=draw(st.sampled_from([None, "T1", "T2", "T3"])),
    )
    return app, ValuationInput(value, draw(st.sampled_from(["high", "medium", "low"])))


def as_row(app: Application, val: ValuationInput) -> dict:
    row = dataclasses.asdict(app)
    row.update(valuation=val.value, confidence_level=val.confidence_level)
    return row


@settings(max_examples=300, deadline=None)
@given(cases())
def test_limit_never_exceeds_the_regulatory_cap(case) -> None:
    app, val = case
    d = decide(app, val, STRATEGY)
    basis = d.recognized_price if app.is_new else min(app.declared_price, val.value)
    assert d.final_limit <= REGULATORY_LTV_CAP[d.segment] * basis
    assert d.final_limit <= d.ltv * d.recognized_price
    assert 0 <= d.final_limit <= max(d.requested_amount, 0)
    assert len(d.reasons) <= 4


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


@settings(max_examples=30, deadline=None)
@given(st.lists(cases(), min_size=1, max_size=40))
def test_decide_frame_equals_decide_row_by_row(batch) -> None:
    frame = decide_frame(pd.DataFrame([as_row(a, v) for a, v in batch]), STRATEGY)
    for (app, val), row in zip(batch, frame.itertuples(), strict=True):
        d = decide(app, val, STRATEGY)
        assert (row.outcome, row.segment, row.customer_tier, row.dealer_tier) == (
            d.outcome, d.segment, d.customer_tier, d.dealer_tier)
        assert (row.recognized_price, row.requested_amount, row.limit_before_adjustments,
                row.final_limit) == (d.recognized_price, d.requested_amount,
                                     d.limit_before_adjustments, d.final_limit)
        assert row.price_gap_bps == int(d.price_gap_pct * 10_000)
        assert row.ltv_bps == int(d.ltv * 10_000)
        assert row.reasons == "|".join(d.reasons)
