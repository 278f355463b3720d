"""A synthetic loan book on the demo market, for a fresh clone (not real data, not for lending).

Each loan finances one demo-market car bought at its market price on its sale date (the funding
date), at an LTV drawn uniformly from 50 % to 80 % of that price, rounded down to 100 yuan; the
term is 12, 24, 36, 48 or 60 months at 3 % to 12 % a year, repaid by equal monthly instalments,
so the outstanding balance on `as_of` is the annuity balance after the instalments due by then
(a loan whose term has ended is closed, with balance 0). Dealers D1 to D20, the first five
with half the loans. Arrears: 90 % current, 6 % 1-30 days, 2.5 % 31-60, 1.5 % 61-180. Half the
loans have an odometer reading taken between funding and `as_of`, the car driven on at its own
yearly distance.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ..model import demo_market

DEALERS = tuple(f"D{i}" for i in range(1, 21))


def generate(loans: int, seed: int = 17, as_of: dt.date = demo_market.DEFAULT_AS_OF
             ) -> pd.DataFrame:
    """`loans` rows of a loan tape (the columns `services.loans` reads), reproducible."""
    rng = np.random.default_rng(seed)
    cars = demo_market.generate(loans, seed=seed, as_of=as_of)
    funded = pd.to_datetime(cars["valuation_date"]).dt.date
    price = cars.pop("price").to_numpy(float)
    cars = cars.drop(columns=["valuation_date"])
    principal = np.floor(price * rng.uniform(0.5, 0.8, loans) / 100) * 100
    term = rng.choice([12, 24, 36, 48, 60], loans)
    rate = np.round(rng.uniform(0.03, 0.12, loans), 4)
    months = np.array([(as_of.year - d.year) * 12 + as_of.month - d.month for d in funded])
    paid = np.clip(months, 0, term)
    r = rate / 12
    growth = (1 + r) ** paid
    instalment = principal * r / (1 - (1 + r) ** -term)
    balance = np.where(paid >= term, 0.0, principal * growth - instalment * (growth - 1) / r)
    status = np.where(paid >= term, "closed", "active")
    arrears = rng.choice(4, loans, p=[0.90, 0.06, 0.025, 0.015])
    dpd = np.select([arrears == 1, arrears == 2, arrears == 3],
                    [rng.integers(1, 31, loans), rng.integers(31, 61, loans),
                     rng.integers(61, 181, loans)], 0)
    weights = np.r_[np.full(5, 0.1), np.full(15, 0.5 / 15)]
    age_years = (pd.to_datetime(pd.Series(funded)) - pd.to_datetime(cars["first_registration"])
                 ).dt.days.to_numpy() / 365.25
    yearly = cars["mileage_km"].to_numpy(float) / np.maximum(age_years, 0.25)
    read = rng.random(loans) < 0.5
    since = np.array([(as_of - d).days for d in funded])
    read_after = np.floor(rng.uniform(0, 1, loans) * since).astype(int)
    odometer_date = [d + dt.timedelta(days=int(k)) if ok else None
                     for d, k, ok in zip(funded, read_after, read, strict=True)]
    odometer = np.where(read, cars["mileage_km"].to_numpy(float) + yearly * read_after / 365.25,
                        np.nan)
    tape = pd.DataFrame({
        "loan_id": [f"L{seed}-{i:07d}" for i in range(loans)],
        "application_id": "", "dealer_id": rng.choice(DEALERS, loans, p=weights),
        "funded_at": [str(d) for d in funded], "principal": [f"{p:.2f}" for p in principal],
        "term_months": term, "annual_rate": [f"{x:.4f}" for x in rate],
        "outstanding_balance": [f"{b:.2f}" for b in np.round(balance, 2)],
        "balance_date": str(as_of), "status": status,
        "days_past_due": np.where(status == "active", dpd, 0),
        "odometer_km": [str(int(k)) if ok else "" for k, ok in zip(odometer, read, strict=True)],
        "odometer_date": [str(d) if d else "" for d in odometer_date],
    })
    return pd.concat([tape, cars.reset_index(drop=True)], axis=1)
