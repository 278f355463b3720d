"""The simulation report's chart aggregates, by hand: shared bins of the final limits and
outcome counts by segment and customer tier."""
from __future__ import annotations

import pandas as pd

from strategies.simulation import limit_distribution, outcomes_by


def frame(outcomes: list[str], limits: list[int], segments: list[str],
          tiers: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"outcome": outcomes, "final_limit": limits, "segment": segments,
                         "customer_tier": tiers})


BASE = frame(["approve", "approve", "refer", "decline", "approve"],
             [12_000, 95_000, 40_000, 0, 180_500],
             ["used_ice", "used_ice", "new_nev", "new_nev", "used_ice"],
             ["A", "B", "A", "C", "A"])
CAND = frame(["approve", "approve", "approve", "decline", "refer"],
             [20_000, 99_900, 41_000, 0, 150_000],
             ["used_ice", "used_ice", "new_nev", "new_nev", "used_ice"],
             ["A", "B", "A", "C", "A"])


def test_limits_share_one_set_of_round_bins() -> None:
    # the top limit 180,500 over 10 bins: 18,051 a bin, rounded up to 20,000 (1-2-5 steps)
    dist = limit_distribution(BASE, CAND)
    assert dist["edges"] == [i * 20_000 for i in range(11)]
    # baseline 12,000 | 40,000 | 95,000 | 180,500; zero limits are not counted
    assert dist["baseline"] == [1, 0, 1, 0, 1, 0, 0, 0, 0, 1]
    # candidate 20,000 | 41,000 | 99,900 | 150,000
    assert dist["candidate"] == [0, 1, 1, 0, 1, 0, 0, 1, 0, 0]


def test_the_last_edge_covers_a_limit_on_a_round_number() -> None:
    dist = limit_distribution(frame(["approve"], [100_000], ["a"], ["A"]),
                              frame(["approve"], [100_000], ["a"], ["A"]))
    assert dist["edges"][-1] > 100_000 and sum(dist["baseline"]) == 1


def test_no_positive_limits_gives_empty_bins() -> None:
    none = frame(["decline"], [0], ["a"], ["A"])
    dist = limit_distribution(none, none)
    assert sum(dist["baseline"]) == 0 and sum(dist["candidate"]) == 0


def test_outcomes_by_segment_and_tier() -> None:
    assert outcomes_by(BASE, CAND, "segment") == [
        {"segment": "new_nev", "applications": 2,
         "baseline": {"approve": 0, "refer": 1, "decline": 1},
         "candidate": {"approve": 1, "refer": 0, "decline": 1}},
        {"segment": "used_ice", "applications": 3,
         "baseline": {"approve": 3, "refer": 0, "decline": 0},
         "candidate": {"approve": 2, "refer": 1, "decline": 0}}]
    by_tier = {r["customer_tier"]: r for r in outcomes_by(BASE, CAND, "customer_tier")}
    assert by_tier["A"]["applications"] == 3
    assert by_tier["A"]["baseline"] == {"approve": 2, "refer": 1, "decline": 0}
    assert by_tier["A"]["candidate"] == {"approve": 2, "refer": 1, "decline": 0}
