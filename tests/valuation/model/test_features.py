"""The feature contract: derived features and the exact model columns."""
import datetime as dt
import math

import pandas as pd
import pytest

from valuation.model import features
from valuation.model.record import validate_frame


def derived(**row: object) -> pd.Series:
    base = {"brand": "比亚迪", "series": "汉", "energy_type": "bev",
            "first_registration": "2021-01-01", "valuation_date": "2024-01-01",
            "mileage_km": 45000, "new_price": 200000, "price": 120000}
    base.update(row)
    frame = validate_frame(pd.DataFrame([base]), training=True).frame
    return features.derive(frame).iloc[0]


def test_age_in_months_at_the_valuation_date() -> None:
    row = derived()
    assert row["age_months"] == pytest.approx(1095 / features.DAYS_PER_MONTH)  # 36.0 months
    assert round(row["age_months"], 2) == 35.98


def test_mileage_per_year_nev_flag_and_retention() -> None:
    row = derived()
    assert row["mileage_per_year_km"] == pytest.approx(45000 / (1095 / 365.25))
    assert row["is_nev"] == 1.0
    assert row["log_new_price"] == pytest.approx(math.log(200000))
    assert row["retention"] == pytest.approx(0.6)


@pytest.mark.parametrize("energy, nev", [("petrol", 0.0), ("hev", 0.0), ("phev", 1.0),
                                         ("erev", 1.0), ("fcev", 1.0)])
def test_nev_means_bev_phev_erev_fcev(energy: str, nev: float) -> None:
    assert derived(energy_type=energy)["is_nev"] == nev


def test_valuation_month_counts_months_since_2000_to_the_day() -> None:
    assert derived(valuation_date="2024-03-10")["valuation_month"] == 24 * 12 + 2 + 9 / 31
    assert derived(valuation_date="2024-02-29")["valuation_month"] == 24 * 12 + 1 + 28 / 29
    assert derived(valuation_date="2000-01-01")["valuation_month"] == 0.0


@pytest.mark.parametrize("given, series_year, variant_year", [
    ({"model_year": 2022, "variant": "EV 610km"}, "比亚迪|汉|2022", "比亚迪|汉|EV 610km|2022"),
    # no model year: the registration year (2021) stands in, as `fill_defaults` fills it
    ({"variant": "EV 610km"}, "比亚迪|汉|2021", "比亚迪|汉|EV 610km|2021"),
    ({"model_year": 2020}, "比亚迪|汉|2020", None),
])
def test_the_model_line_by_year_in_both_paths(given, series_year, variant_year) -> None:
    row = derived(**given)
    assert row["series_year"] == series_year
    assert (None if pd.isna(row["variant_year"]) else row["variant_year"]) == variant_year
    record = {"brand": "比亚迪", "series": "汉", "variant": None, "model_year": None,
              "energy_type": "bev", "usage": "private", "mileage_km": 45000.0,
              "new_price": 200000.0, "first_registration": dt.date(2021, 1, 1),
              "valuation_date": dt.date(2024, 1, 1), **given}
    out = features.derive_record(record)
    assert (out["series_year"], out["variant_year"]) == (series_year, variant_year)


def test_model_input_has_exactly_the_contract_columns() -> None:
    frame = validate_frame(pd.DataFrame([{"brand": "A", "series": "B", "energy_type": "petrol",
                                          "first_registration": "2020",
                                          "valuation_date": "2022-07-01",
                                          "mileage_km": 1000, "price": 1}]),
                           training=True).frame
    x = features.model_input(features.derive(frame))
    assert tuple(x.columns) == features.FEATURES
    assert x["variant"][0] == features.MISSING_CATEGORY
    assert x["region"][0] == features.MISSING_CATEGORY
    assert math.isnan(x["new_price" if "new_price" in x else "log_new_price"][0])
    assert x["age_months"][0] == pytest.approx(730 / features.DAYS_PER_MONTH)


def test_monotone_features_are_model_features() -> None:
    assert set(features.MONOTONE) <= set(features.NUMERIC)
    assert features.MONOTONE["mileage_km"] == -1 and features.MONOTONE["age_months"] == -1


def test_series_keys_once_per_key_and_none_without_brand_or_series() -> None:
    frame = pd.DataFrame({"brand": pd.Categorical(["BYD", "BYD", None, "Tesla", "BYD"]),
                          "series": ["汉", "秦", "汉", "Model 3", None]})
    at, keys, brands = features.series_keys(frame)
    assert [keys[i] for i in at] == ["BYD|汉", "BYD|秦", None, "Tesla|Model 3", None]
    assert [brands[i] for i in at] == ["BYD", "BYD", None, "Tesla", "BYD"]
    assert len(keys) == 5 and features.series_key(frame).tolist()[2] is None
