"""`schemas.load_vehicle`, the quicker load of a request and of a JSON batch's rows, answers
exactly as the marshmallow schema it stands for: the same loaded values (types and key order
included) for a row the schema takes, the same errors for a row it refuses, on generated good
and bad rows."""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from marshmallow import Schema, ValidationError, fields, validate

from valuation.http import schemas

# values a JSON body can hold that some field refuses, or takes only after converting them
AWKWARD = ["", " ", "x" * 101, "nan", "12.5", "1e400", "abc", "yes", "TRUE", "2021", "2021-06",
           "2021-13", "2021-02-30", "21-06-01", "2099-01-01", "none", "petrol", "suv", True,
           False, 0, -1, 1.5, 2021, 10**400, 1e308, -0.0, 1_900_000, 2_000_001, None, [], {},
           ["a"], {"a": 1}, float("nan"), float("inf"), -float("inf"), 2**53 + 1, -(2**63),
           "x" * 100, 1e-320, 0.0, 60, 61]
REQUIRED = ("brand", "series", "energy_type", "first_registration", "mileage_km")


def generated_rows(market: pd.DataFrame, n: int, seed: int, corrupt: bool) -> list[dict]:
    """Cars of the demo market as a JSON body sends them (no price; missing values null or
    left out), and, when `corrupt`, one or two values (the VIN and the caller's reference
    among them) replaced by awkward ones, and now and then a required field left out, an
    unknown field added or a VIN of 10 to 18 characters."""
    rng = np.random.default_rng(seed)
    frame = market.drop(columns=["price"]).sample(n, random_state=seed)
    names = list(frame.columns) + ["vin", "external_ref"]
    rows = []
    for row in json.loads(frame.to_json(orient="records", force_ascii=False)):
        for name in rng.choice(list(frame.columns), rng.integers(0, 6), replace=False):
            if name not in REQUIRED:
                row.pop(name)  # left out, or (below) sent as null
        if rng.random() < 0.3:
            row["battery_kwh"] = None
        if corrupt:
            for name in rng.choice(names, rng.integers(1, 3), replace=False):
                row[name] = AWKWARD[rng.integers(len(AWKWARD))]
            if rng.random() < 0.1:
                row.pop(REQUIRED[rng.integers(len(REQUIRED))])
            if rng.random() < 0.1:
                row["colour"] = "red"  # not a field
            if rng.random() < 0.2:
                row["vin"] = "LSVAU2180N" + "1" * int(rng.integers(0, 9))  # 10 to 18 long
        rows.append(row)
    return rows


def outcome(load, raw: Any) -> tuple:  # type: ignore[no-untyped-def]
    try:
        loaded = load(raw)
    except ValidationError as exc:
        return ("refused", exc.messages)
    return ("loaded", list(loaded.items()), [type(v) for v in loaded.values()])


@pytest.mark.parametrize("corrupt", [False, True])
def test_load_vehicle_answers_as_the_schema(market, corrupt, monkeypatch) -> None:
    rows = generated_rows(market, 1_500, seed=3 if corrupt else 4, corrupt=corrupt)
    expected = [outcome(schemas.VEHICLE_REQUEST.load, row) for row in rows]
    # the schema of `POST /v1/valuations` loads one request as `load_vehicle` does
    quick = schemas.QuickValuationRequestSchema()
    assert [outcome(quick.load, row) for row in rows] == expected
    by_schema = []
    schema_load = schemas.VEHICLE_REQUEST.load
    monkeypatch.setattr(schemas.VEHICLE_REQUEST, "load",
                        lambda raw: by_schema.append(raw) or schema_load(raw))
    got = [outcome(schemas.load_vehicle, row) for row in rows]
    assert got == expected
    refused = sum(1 for verdict, *_ in expected if verdict == "refused")
    if corrupt:
        assert refused > 700  # the awkward values did make bad rows to compare
        # a bad row is the schema's to refuse; a few good ones come to it too (a number sent as
        # text, which its field converts)
        assert refused <= len(by_schema) < refused + 200
    else:
        # the market's own cars are all valid, and all loaded without the schema's load
        assert refused == 0 and by_schema == []


def test_load_vehicle_refuses_what_is_not_a_row() -> None:
    for raw in ([], "car", 7, None, [{"brand": "丰田"}]):
        assert outcome(schemas.load_vehicle, raw) == outcome(schemas.VEHICLE_REQUEST.load, raw)
        assert outcome(schemas.load_vehicle, raw)[0] == "refused"


def test_a_field_judged_by_other_rules_has_no_plain_loader() -> None:
    """A validator or a hook the plain loaders do not know leaves every value to the field."""
    for field in (fields.String(validate=validate.Regexp("^a")),
                  fields.String(validate=validate.Length(equal=3)),
                  fields.Integer(strict=False), fields.Float(allow_nan=True),
                  fields.Email(), fields.String(pre_load=[str.strip])):
        assert schemas.plain_loader(field)("abc") is schemas.NOT_PLAIN
        assert schemas.plain_loader(field)(3) is schemas.NOT_PLAIN


def test_plain_loaders_by_hand() -> None:
    loaders = {name: plain for name, _, plain in schemas._REQUEST_FIELDS}
    assert loaders["seats"](7) == 7 and loaders["seats"](61) is schemas.NOT_PLAIN
    assert loaders["seats"](7.0) is schemas.NOT_PLAIN  # the strict field refuses it itself
    assert loaders["new_price"](0) is schemas.NOT_PLAIN  # positive
    got = loaders["mileage_km"](45000)
    assert got == 45000.0 and type(got) is float
    assert loaders["brand"](None) is schemas.NOT_PLAIN  # required: the field says why
    assert loaders["color"](None) is None
    assert loaders["usage"]("private") == "private"
    assert loaders["usage"]("Private") is schemas.NOT_PLAIN
    assert loaders["first_registration"]("2021-06") == "2021-06"
    assert loaders["first_registration"](2021) is schemas.NOT_PLAIN  # the field converts it
    assert loaders["flood_damage"](False) is False
    assert loaders["flood_damage"](0) is schemas.NOT_PLAIN
    assert loaders["vin"]("LSVAU2180N") is schemas.NOT_PLAIN  # 10 characters, 11 at least


def test_the_request_schema_loads_a_plain_request_without_marshmallow(monkeypatch) -> None:
    monkeypatch.setattr(schemas.VEHICLE_REQUEST, "load", None)  # not called
    monkeypatch.setattr(Schema, "load", None)
    assert schemas.QuickValuationRequestSchema().load(
        {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol", "mileage_km": 45000,
         "first_registration": "2021-06", "seats": 5}) == {
        "brand": "丰田", "series": "凯美瑞", "seats": 5, "energy_type": "petrol",
        "first_registration": "2021-06", "mileage_km": 45000.0}


def test_the_request_schema_leaves_other_loads_to_marshmallow() -> None:
    car = {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol",
           "first_registration": "2021-06", "mileage_km": 45000, "colour": "red"}
    quick = schemas.QuickValuationRequestSchema()
    with pytest.raises(ValidationError) as refused:
        quick.load(car)
    assert refused.value.messages == {"colour": ["Unknown field."]}
    assert quick.load(car, unknown="exclude") == {**schemas.VEHICLE_REQUEST.load(
        {k: v for k, v in car.items() if k != "colour"})}
    assert quick.load([car], many=True, unknown="exclude")[0]["mileage_km"] == 45000.0
    assert schemas.QuickValuationRequestSchema(only=("brand",)).load({"brand": "丰田"}) == {
        "brand": "丰田"}
