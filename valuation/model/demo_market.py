"""A documented synthetic Chinese used-car market in the canonical record, for the demo model.

Not real data, not for lending. Each car's price is built multiplicatively:

    price = new_price
          x exp(-depreciation_per_year(series) x age_years)      # segment curve, NEV steeper
          x exp(-mileage_rate x mileage_km / 10,000)              # 1.2 % (ICE) / 1.5 % (BEV) per 10,000 km
          x (1 + 0.004 x (condition_score - 80))                   # GB/T 30323 score
          x accident (minor 0.95, structural 0.80) x flood 0.65 x fire 0.55
          x (1 - 0.025 x transfers beyond the first)
          x usage (ride_hailing 0.88, commercial 0.92, rental 0.94)
          x region (first-tier cities 1.03, north-east 0.96, NEV in the south 1.02)
          x colour (white/black/grey 1.01, other 0.98)
          x battery (NEV: 1 + 0.006 x (SOH - expected SOH))
          x market drift (NEV -0.5 %/month, ICE -0.1 %/month over the window)
          x lognormal noise (sigma 0.06)

Battery SOH for NEVs decays 1.8 points a year and 1 point per 50,000 km, with noise (sd 3).
Valuation dates run over the 24 months before `as_of`; ages 3 months to 12 years; yearly
mileage lognormal around 15,000 km (ride-hailing 60,000 km).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

# brand, series, energy, body, new price (CNY), depreciation per year, power kW, displacement, kWh, range km
CATALOG: tuple[tuple, ...] = (
    ("比亚迪", "汉", "bev", "sedan", 210_000, 0.15, 180, None, 76.9, 605),
    ("比亚迪", "秦PLUS DM-i", "phev", "sedan", 110_000, 0.13, 81, 1.5, 18.3, 120),
    ("比亚迪", "宋PLUS DM-i", "phev", "suv", 160_000, 0.13, 81, 1.5, 18.3, 110),
    ("比亚迪", "海豚", "bev", "hatchback", 110_000, 0.16, 70, None, 44.9, 420),
    ("Tesla", "Model 3", "bev", "sedan", 260_000, 0.14, 194, None, 60.0, 556),
    ("Tesla", "Model Y", "bev", "suv", 280_000, 0.14, 220, None, 60.0, 545),
    ("理想", "L7", "erev", "suv", 330_000, 0.12, 330, 1.5, 42.8, 210),
    ("蔚来", "ES6", "bev", "suv", 360_000, 0.18, 360, None, 75.0, 490),
    ("五菱", "宏光MINIEV", "bev", "hatchback", 40_000, 0.17, 20, None, 13.9, 170),
    ("丰田", "凯美瑞", "petrol", "sedan", 200_000, 0.08, 132, 2.0, None, None),
    ("丰田", "卡罗拉", "hev", "sedan", 130_000, 0.08, 72, 1.8, None, None),
    ("丰田", "RAV4荣放", "petrol", "suv", 200_000, 0.08, 126, 2.0, None, None),
    ("本田", "雅阁", "hev", "sedan", 200_000, 0.09, 135, 2.0, None, None),
    ("本田", "CR-V", "petrol", "suv", 190_000, 0.09, 142, 1.5, None, None),
    ("大众", "朗逸", "petrol", "sedan", 120_000, 0.10, 85, 1.5, None, None),
    ("大众", "帕萨特", "petrol", "sedan", 220_000, 0.11, 137, 2.0, None, None),
    ("大众", "途观L", "petrol", "suv", 250_000, 0.11, 137, 2.0, None, None),
    ("宝马", "3系", "petrol", "sedan", 320_000, 0.13, 135, 2.0, None, None),
    ("宝马", "X3", "petrol", "suv", 420_000, 0.13, 185, 2.0, None, None),
    ("奔驰", "C级", "petrol", "sedan", 340_000, 0.13, 150, 1.5, None, None),
    ("奔驰", "GLC", "petrol", "suv", 430_000, 0.12, 190, 2.0, None, None),
    ("吉利", "帝豪", "petrol", "sedan", 80_000, 0.12, 84, 1.5, None, None),
    ("哈弗", "H6", "petrol", "suv", 120_000, 0.12, 135, 1.5, None, None),
    ("别克", "GL8", "petrol", "mpv", 280_000, 0.09, 174, 2.0, None, None),
    ("五菱", "宏光", "petrol", "mpv", 50_000, 0.13, 73, 1.5, None, None),
)
FIRST_TIER = ("北京", "上海", "广州", "深圳")
NORTH_EAST = ("沈阳", "哈尔滨", "长春")
SOUTH = ("广州", "深圳", "杭州", "成都")
REGIONS = FIRST_TIER + NORTH_EAST + ("杭州", "成都", "武汉", "西安", "郑州", "南京")
COLORS = ("白色", "黑色", "灰色", "蓝色", "红色", "银色")
NEUTRAL_COLORS = ("白色", "黑色", "灰色")
USAGE_FACTORS = {"private": 1.0, "ride_hailing": 0.88, "commercial": 0.92, "rental": 0.94}
ACCIDENT_FACTORS = {"none": 1.0, "minor": 0.95, "structural": 0.80}
DEFAULT_AS_OF = dt.date(2026, 6, 30)


def generate(rows: int, seed: int = 42, as_of: dt.date = DEFAULT_AS_OF) -> pd.DataFrame:
    """`rows` synthetic sales in the canonical record, reproducible for a seed."""
    rng = np.random.default_rng(seed)
    cat = pd.DataFrame(list(CATALOG), columns=["brand", "series", "energy_type", "body_type",
                                               "new_price", "dep", "power_kw",
                                               "displacement_l", "battery_kwh", "range_km"])
    pick = cat.iloc[rng.integers(0, len(cat), rows)].reset_index(drop=True)
    nev = pick["energy_type"].isin(["bev", "phev", "erev"]).to_numpy()
    bev = (pick["energy_type"] == "bev").to_numpy()

    months_back = rng.integers(0, 24, rows)
    days_back = months_back * 30.44 + rng.integers(0, 28, rows)
    valuation = pd.to_datetime(as_of) - pd.to_timedelta(days_back, unit="D")
    age_years = rng.uniform(0.25, 12.0, rows)
    registration = valuation - pd.to_timedelta(age_years * 365.25, unit="D")
    usage = rng.choice(list(USAGE_FACTORS), rows, p=[0.82, 0.08, 0.05, 0.05])
    yearly = np.exp(rng.normal(np.log(15_000), 0.45, rows)) * np.where(usage == "ride_hailing", 3, 1)
    yearly = np.minimum(yearly, 100_000)
    mileage = np.round(yearly * age_years, -2)
    transfers = np.minimum(rng.poisson(age_years / 4), 6)
    condition = np.clip(rng.normal(92 - 2.2 * age_years, 6), 15, 100).round(0)
    accident = rng.choice(list(ACCIDENT_FACTORS), rows, p=[0.85, 0.12, 0.03])
    flood = rng.random(rows) < 0.01
    fire = rng.random(rows) < 0.005
    region = rng.choice(REGIONS, rows)
    color = rng.choice(COLORS, rows)
    expected_soh = np.maximum(100 - 1.8 * age_years - mileage / 50_000, 60)
    soh = np.where(nev, np.clip(expected_soh + rng.normal(0, 3, rows), 50, 100).round(1), np.nan)

    factor = np.exp(-pick["dep"].to_numpy() * age_years)
    factor *= np.exp(-np.where(bev, 0.015, 0.012) * mileage / 10_000)
    factor *= 1 + 0.004 * (condition - 80)
    factor *= pd.Series(accident).map(ACCIDENT_FACTORS).to_numpy()
    factor *= np.where(flood, 0.65, 1.0) * np.where(fire, 0.55, 1.0)
    factor *= 1 - 0.025 * np.maximum(transfers - 1, 0)
    factor *= pd.Series(usage).map(USAGE_FACTORS).to_numpy()
    factor *= np.where(np.isin(region, FIRST_TIER), 1.03, np.where(np.isin(region, NORTH_EAST), 0.96, 1.0))
    factor *= np.where(nev & np.isin(region, SOUTH), 1.02, 1.0)
    factor *= np.where(np.isin(color, NEUTRAL_COLORS), 1.01, 0.98)
    factor *= np.where(nev, 1 + 0.006 * (np.nan_to_num(soh) - expected_soh), 1.0)
    factor *= np.where(nev, 1 - 0.005 * (23 - months_back), 1 - 0.001 * (23 - months_back))
    factor *= np.exp(rng.normal(0, 0.06, rows))
    price = np.round(pick["new_price"].to_numpy() * factor, -2).clip(min=1_000)

    model_year = registration.year - (rng.random(rows) < 0.2)
    return pd.DataFrame({
        "brand": pick["brand"],
        "series": pick["series"],
        "variant": [f"{y}款" for y in model_year],
        "model_year": model_year,
        "body_type": pick["body_type"],
        "energy_type": pick["energy_type"],
        "transmission": "automatic",
        "displacement_l": pick["displacement_l"],
        "power_kw": pick["power_kw"],
        "battery_kwh": pick["battery_kwh"],
        "range_km": pick["range_km"],
        "battery_soh_pct": soh,
        "new_price": pick["new_price"],
        "first_registration": registration.strftime("%Y-%m-%d"),
        "valuation_date": valuation.strftime("%Y-%m-%d"),
        "mileage_km": mileage,
        "transfer_count": transfers,
        "condition_score": condition,
        "accident": accident,
        "flood_damage": flood,
        "fire_damage": fire,
        "usage": usage,
        "region": region,
        "color": color,
        "price": price,
    })
