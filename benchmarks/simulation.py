"""Simulation benchmark: decide_frame on N synthetic applications, candidate vs baseline.

    .venv/bin/python benchmarks/simulation.py [--rows 100000] [--repeat 3]

Prints the median wall time of a full `strategies.simulation.compare` (both strategies
decided, report built) and the row-by-row `decide` rate on a sample for comparison.
"""
from __future__ import annotations

import copy
import statistics
import time

import click
import numpy as np
import pandas as pd

from strategies.document import default_strategy, load_strategy
from strategies.simulation import compare


def applications(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    value = rng.integers(30_000, 600_000, rows)
    declared = (value * rng.uniform(0.9, 1.4, rows)).astype(np.int64)
    return pd.DataFrame({
        "declared_price": declared,
        "down_payment": (declared * rng.uniform(0, 0.5, rows)).astype(np.int64),
        "term_months": rng.choice([12, 24, 36, 48, 60], rows),
        "annual_rate": rng.choice([0.0, 0.04, 0.08, 0.12], rows),
        "is_new": rng.random(rows) < 0.4,
        "energy_type": rng.choice(["petrol", "bev", "phev", "hev", "diesel"], rows),
        "usage": rng.choice(["private", "commercial", "ride_hailing", None], rows),
        "first_registration": pd.to_datetime("2015-01-01")
        + pd.to_timedelta(rng.integers(0, 3500, rows), unit="D"),
        "mileage_km": rng.integers(0, 350_000, rows),
        "flood_damage": rng.random(rows) < 0.01, "fire_damage": rng.random(rows) < 0.005,
        "monthly_income": rng.integers(3_000, 80_000, rows),
        "monthly_debt_payments": rng.integers(0, 10_000, rows),
        "decision_date": pd.Timestamp("2025-06-01"),
        "customer_score": rng.integers(450, 850, rows), "customer_tier": None,
        "dealer_tier": rng.choice(["T1", "T2", "T3", None], rows), "product": None,
        "valuation": value, "confidence_level": rng.choice(["high", "medium", "low"], rows),
    })


@click.command()
@click.option("--rows", default=100_000, show_default=True)
@click.option("--repeat", default=3, show_default=True)
def main(rows: int, repeat: int) -> None:
    base = default_strategy()
    doc = copy.deepcopy(base.raw)
    doc["ltv_max"]["used_ice"]["A"]["T1"] = "0.65"
    candidate = load_strategy(doc)
    apps = applications(rows)
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        report = compare(apps, base, candidate)
        times.append(time.perf_counter() - started)
        click.echo(f"run {i + 1}: {times[-1]:.2f} s "
                   f"({report['limit_changed']:,} limits changed)")
    click.echo(f"simulation of {rows:,} applications (both strategies + report): median "
               f"{statistics.median(times):.2f} s over {repeat} runs")


if __name__ == "__main__":
    main()
