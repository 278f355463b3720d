"""The monitoring rules on hand-computed loans (the shipped policy), and policy validation."""
import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from strategies.document import StrategyError
from strategies.monitoring import DEFAULT_PATH, RULES, default_policy, evaluate, load_policy

BASE = {"principal": 70_000, "balance": 60_000, "value_now": 100_000, "lending_now": 80_000,
        "value_funded": 120_000, "lending_funded": 100_000, "days_past_due": 0,
        "flood_or_fire_after_funding": False, "dealer_watch": False, "nev": False,
        "battery_soh_pct": np.nan, "age_years": 3.0, "confidence_level": "high"}


def loan(**changes):
    return {**BASE, **changes}


# (loan, ltv_bps, ltv_funded_bps, value_change_bps, score, grade, action, rules), each worked
# by hand from strategies/monitoring.yaml
CASES = [
    # A: 60,000/80,000 = 75.00 %; at funding 70,000/100,000 = 70.00 %; value 120,000 -> 100,000
    # is -16.67 %: nothing fires
    (loan(), 7500, 7000, -1667, 0, 1, "none", []),
    # B: 90,000/85,000 = 105.88 % > 100 % (strong: grade 4, reinspect); at funding
    # 95,000/110,000 = 86.36 %, up 19.52 points > 10 (25 points); 45 days past due (30
    # points): score 55 -> grade 3, raised to 4
    (loan(principal=95_000, balance=90_000, lending_now=85_000, lending_funded=110_000,
          value_funded=130_000, days_past_due=45),
     10588, 8636, -2308, 55, 4, "reinspect", ["LTV_OVER", "LTV_DRIFT", "DAYS_PAST_DUE"]),
    # C: flood reported after funding: grade 5, call the loan
    (loan(flood_or_fire_after_funding=True), 7500, 7000, -1667, 0, 5, "call_loan",
     ["FLOOD_OR_FIRE"]),
    # D: NEV of 4 years at 82 % SOH, expected 100 - 2.5 x 4 = 90, less the 5 margin = 85:
    # 20 points; dealer on watch 15; low confidence 10: score 45 -> grade 3 (contact); value
    # 200,000 -> 130,000 is -35 % (strong: grade 4, contact): grade 4, whose action is
    # reinspect
    (loan(principal=120_000, balance=100_000, lending_now=140_000, lending_funded=160_000,
          value_funded=200_000, value_now=130_000, nev=True, age_years=4.0,
          battery_soh_pct=82.0, dealer_watch=True, confidence_level="low"),
     7143, 7500, -3500, 45, 4, "reinspect",
     ["VALUE_DROP", "DEALER_WATCH", "BATTERY_SOH", "LOW_CONFIDENCE"]),
    # E: LTV exactly 100 % is not above it; 1 day past due: 10 points, grade 1
    (loan(principal=80_000, balance=80_000, lending_now=80_000, lending_funded=88_000,
          value_funded=100_000, value_now=100_000, days_past_due=1),
     10000, 9091, 0, 10, 1, "none", ["DAYS_PAST_DUE"]),
    # F: 61 days past due (50) and LTV 50 % -> 80 % (25): score 75 -> grade 4, reinspect
    (loan(principal=50_000, balance=48_000, lending_now=60_000, lending_funded=100_000,
          value_funded=110_000, value_now=80_000, days_past_due=61),
     8000, 5000, -2727, 75, 4, "reinspect", ["LTV_DRIFT", "DAYS_PAST_DUE"]),
    # G: an NEV with no SOH reported, and an ICE car with a low SOH figure: no battery rule
    (loan(nev=True, battery_soh_pct=np.nan, age_years=8.0), 7500, 7000, -1667, 0, 1, "none",
     []),
    (loan(nev=False, battery_soh_pct=50.0, age_years=8.0), 7500, 7000, -1667, 0, 1, "none",
     []),
]


def test_each_rule_on_hand_computed_loans() -> None:
    frame = pd.DataFrame([c[0] for c in CASES])
    out = evaluate(frame, default_policy())
    for i, (_, ltv, funded, change, score, grade, action, rules) in enumerate(CASES):
        row = out.iloc[i]
        assert (row.ltv_bps, row.ltv_funded_bps, row.value_change_bps, row.score, row.grade,
                row.action, row.rules) == (ltv, funded, change, score, grade, action, rules), i
        assert row.ltv_change_bps == ltv - funded


def test_every_rule_has_texts_and_an_empty_book_is_fine() -> None:
    assert all(set(t) == {"zh", "en"} and all(t.values()) for t in RULES.values())
    assert len(evaluate(pd.DataFrame([loan()]).iloc[:0], default_policy())) == 0


def test_the_policy_is_validated() -> None:
    shipped = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert load_policy(shipped).content_hash == default_policy().content_hash

    def refused(change) -> dict:
        doc = copy.deepcopy(shipped)
        change(doc)
        with pytest.raises(StrategyError) as caught:
            load_policy(doc)
        return caught.value.errors

    assert "strong" in refused(lambda d: d["strong"]["ltv_over"].update(action="shout"))
    assert "grade_from_score" in refused(lambda d: d["grade_from_score"].update({"4": 30}))
    assert "actions" in refused(lambda d: d["actions"].update({"5": "watch"}))
    assert "weak" in refused(lambda d: d["weak"]["days_past_due"].reverse())
    assert "strong.value_drop.above" in refused(
        lambda d: d["strong"]["value_drop"].update(above="0.123456"))
    assert "surprise" in refused(lambda d: d.update(surprise=1))


def test_channel_scores_on_hand_computed_dealers() -> None:
    from strategies.monitoring import channel_scores
    dealers = pd.DataFrame([
        # D1: clean: score 0, T1
        {"applications": 50, "inflated_share": 500, "median_gap": 200, "decline_rate": 1000,
         "refer_rate": 1000, "alert_share": 0, "early_arrears": 0},
        # D2: 25 % inflated (> 20 %: 30) and a 12 % median gap (> 10 %: 20): 50 -> T2
        {"applications": 40, "inflated_share": 2500, "median_gap": 1200, "decline_rate": 1000,
         "refer_rate": 1000, "alert_share": 0, "early_arrears": 0},
        # D3: 30 + 20 + alerts 15 % (15) + early arrears 6 % (20) = 85 -> T3
        {"applications": 30, "inflated_share": 3000, "median_gap": 1500, "decline_rate": 0,
         "refer_rate": 0, "alert_share": 1500, "early_arrears": 600},
        # D4: exactly at each threshold: nothing fires (strictly above)
        {"applications": 10, "inflated_share": 2000, "median_gap": 1000, "decline_rate": 3000,
         "refer_rate": 4000, "alert_share": 1000, "early_arrears": 500},
        # D5: alarming but only 9 applications: not scored
        {"applications": 9, "inflated_share": 9000, "median_gap": 5000, "decline_rate": 9000,
         "refer_rate": 9000, "alert_share": 9000, "early_arrears": 9000},
    ])
    out = channel_scores(dealers, default_policy())
    assert out["score"].tolist()[:4] == [0, 50, 85, 0] and pd.isna(out["score"][4])
    assert out["proposed_tier"].tolist() == ["T1", "T2", "T3", "T1", None]
    assert out["drivers"].tolist() == [
        [], ["inflated_share", "median_gap"],
        ["inflated_share", "median_gap", "alert_share", "early_arrears"], [], []]
