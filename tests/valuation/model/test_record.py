"""The canonical record: parsing, enums, bounds and the reasons a row is invalid."""
import datetime as dt

import pandas as pd
import pytest

from valuation.model.record import FIELD_BY_NAME, field_errors, parse_column, validate_frame

GOOD = {"brand": "Tesla", "series": "Model 3", "energy_type": "bev",
        "first_registration": "2020-03-15", "valuation_date": "2024-03-15",
        "mileage_km": "40000", "price": "150000"}


def one(**changes: object) -> pd.DataFrame:
    row = dict(GOOD)
    row.update(changes)
    return pd.DataFrame([{k: v for k, v in row.items() if v is not None}])


@pytest.mark.parametrize("text, expected", [
    ("2020-03-15", "2020-03-15"),
    ("2020-03", "2020-03-15"),   # month only: the middle of the month
    ("2020", "2020-07-01"),      # year only: the middle of the year
    ("2020-03-15T10:00:00", "2020-03-15"),
])
def test_dates_accept_day_month_or_year(text: str, expected: str) -> None:
    dates, bad = parse_column(pd.Series([text]), FIELD_BY_NAME["first_registration"])
    assert str(dates[0].date()) == expected
    assert not bad[0]


@pytest.mark.parametrize("text", ["2020-13-01", "15/03/2020", "soon"])
def test_bad_dates_are_flagged(text: str) -> None:
    dates, bad = parse_column(pd.Series([text]), FIELD_BY_NAME["first_registration"])
    assert bad[0] and pd.isna(dates[0])


def test_a_batch_repeating_values_is_typed_row_by_row() -> None:
    """Distinct texts are parsed once and spread back: each row still gets its own verdict
    (True is not 1, a blank is absent, not invalid)."""
    col = pd.Series([1, True, "1", None, " 2 ", "2", 1.5, "", 1.0], dtype=object)
    typed, bad = parse_column(col, FIELD_BY_NAME["transfer_count"])
    assert bad.tolist() == [False, True, False, False, False, False, True, False, False]
    assert typed.fillna(-1).tolist() == [1.0, -1, 1.0, -1, 2.0, 2.0, -1, -1, 1.0]


def test_a_good_row_is_valid_and_typed() -> None:
    checked = validate_frame(one(flood_damage="Yes", accident="Minor"), training=True)
    assert checked.valid.tolist() == [True]
    row = checked.frame.iloc[0]
    assert row["mileage_km"] == 40000.0
    assert bool(row["flood_damage"]) is True
    assert row["accident"] == "minor"


@pytest.mark.parametrize("changes, reason", [
    ({"brand": None}, "missing brand"),
    ({"series": ""}, "missing series"),
    ({"energy_type": "steam"}, "invalid energy_type"),
    ({"mileage_km": "-5"}, "invalid mileage_km"),
    ({"mileage_km": "2000001"}, "invalid mileage_km"),
    ({"mileage_km": "lots"}, "invalid mileage_km"),
    ({"battery_soh_pct": "101"}, "invalid battery_soh_pct"),
    ({"transfer_count": "1.5"}, "invalid transfer_count"),
    ({"seats": "0"}, "invalid seats"),
    ({"length_mm": "4.6"}, "invalid length_mm"),  # metres, not mm
    ({"flood_damage": "maybe"}, "invalid flood_damage"),
    ({"price": "0"}, "price <= 0"),
    ({"price": "-100"}, "price <= 0"),
    ({"price": None}, "missing price"),
    ({"valuation_date": None}, "missing valuation_date"),
    ({"first_registration": "2025-01-01"}, "registration after valuation date"),
    ({"mileage_km": "1500000"}, "impossible mileage"),  # 375,000 km a year
])
def test_invalid_rows_name_their_reason(changes: dict, reason: str) -> None:
    checked = validate_frame(one(**changes), training=True)
    assert checked.valid.tolist() == [False]
    assert reason in checked.reasons[0]


def test_prediction_rows_need_no_price_and_default_the_date() -> None:
    checked = validate_frame(one(price=None, valuation_date=None), training=False,
                             today=dt.date(2025, 1, 1))
    assert checked.valid.tolist() == [True]
    assert checked.frame["valuation_date"][0] == pd.Timestamp("2025-01-01")


def test_reason_counts_count_rows_per_reason() -> None:
    frame = pd.concat([one(), one(price="0"), one(price="0", brand=None), one(mileage_km="x")],
                      ignore_index=True)
    checked = validate_frame(frame, training=True)
    assert checked.valid.tolist() == [True, False, False, False]
    assert checked.reason_counts() == {"price <= 0": 2, "missing brand": 1,
                                       "invalid mileage_km": 1}
    assert checked.messages()[2] == "missing brand; price <= 0"


@pytest.mark.parametrize("changes, errors", [
    ({"mileage_km": "-3"}, {"mileage_km": [
        "Must be greater than or equal to 0 and less than or equal to 2000000."]}),
    ({"mileage_km": "lots"}, {"mileage_km": ["Not a valid number."]}),
    ({"mileage_km": "inf"}, {"mileage_km": ["Not a valid number."]}),
    ({"seats": "4.5"}, {"seats": ["Not a valid integer."]}),
    ({"seats": "many"}, {"seats": ["Not a valid integer."]}),
    ({"seats": "0"}, {"seats": ["Must be greater than or equal to 1 and less than or equal to 60."]}),
    ({"new_price": "0"}, {"new_price": ["Must be greater than 0."]}),
    ({"energy_type": "steam"}, {"energy_type": [
        "Must be one of: petrol, diesel, hev, phev, erev, bev, fcev, gas, other."]}),
    ({"flood_damage": "maybe"}, {"flood_damage": ["Not a valid boolean."]}),
    ({"first_registration": "15/03/2020"}, {"first_registration": [
        "Not a date: use YYYY-MM-DD, YYYY-MM or YYYY."]}),
    ({"brand": None, "series": None}, {"brand": ["Missing data for required field."],
                                       "series": ["Missing data for required field."]}),
    ({"first_registration": "2024-03-18"}, {"first_registration": [
        "Registration is after the valuation date."]}),
    ({"first_registration": "2024-04"}, {"first_registration": [
        "Registration is in the future.", "Registration is after the valuation date."]}),
    ({"mileage_km": "1500000"}, {"mileage_km": [
        "Mileage is impossible for the car's age (over 250,000 km a year)."]}),
    ({"valuation_date": "2024-04-01"}, {"valuation_date": ["Valuation date is in the future."]}),
])
def test_a_rows_reasons_read_as_the_api_json_errors(changes: dict, errors: dict) -> None:
    """Keyed by field, in the words marshmallow gives the same value in a JSON body."""
    raw = {k: v for k, v in dict(GOOD, **changes).items() if v is not None}
    checked = validate_frame(pd.DataFrame([raw]), training=False, today=dt.date(2024, 3, 20))
    assert field_errors(raw, checked.reasons[0]) == errors


def test_a_reason_of_no_one_field_stays_under_schema() -> None:
    assert field_errors({"price": "0"}, ["price <= 0", "invalid mileage_km"]) == {
        "_schema": ["price <= 0"], "mileage_km": ["Not a valid number."]}
