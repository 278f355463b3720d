"""The valuation API: auth and roles, validation of every field, the body, storage, batch."""
import io
import json

import pytest

CAR = {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol", "new_price": 200000,
       "first_registration": "2022-03-01", "valuation_date": "2025-06-01",
       "mileage_km": 52000, "region": "上海", "usage": "private", "accident": "none",
       "condition_score": 85, "transfer_count": 1, "vin": "LVSHCAMB1CE012345",
       "external_ref": "dealer-ref-1"}


def post(client, keys, body, role="dealer"):
    return client.post("/v1/valuations", json=body, headers=keys[role])


def test_a_valuation_adds_up_and_is_stored_exactly(client, keys) -> None:
    response = post(client, keys, CAR)
    assert response.status_code == 201, response.json
    body = response.json
    assert response.headers["Location"] == f"/v1/valuations/{body['id']}"
    assert body["model"] == {"name": "tiny", "version": "1"}
    assert body["currency"] == "CNY" and body["valuation_date"] == "2025-06-01"
    value = body["value"]
    assert value["low"] <= value["retail"] <= value["high"]
    assert value["lending"] == value["low"]
    parts = body["breakdown"]
    assert [a["factor"] for a in parts["adjustments"]] == [
        "mileage", "condition", "accident_damage", "battery", "transfers_usage", "region",
        "other"]
    assert parts["base"] + sum(a["amount"] for a in parts["adjustments"]) == value["retail"]
    assert all(a["source"] in ("learned", "prior", "learned+prior") for a in parts["adjustments"])
    months = [r["months"] for r in body["residuals"]]
    values = [value["retail"]] + [r["value"] for r in body["residuals"]]
    assert months == [12, 24, 36] and values == sorted(values, reverse=True)
    assert 0 <= body["confidence"]["score"] <= 1
    assert body["confidence"]["level"] in ("high", "medium", "low")
    assert body["vin"] == CAR["vin"] and body["external_ref"] == "dealer-ref-1"

    again = client.get(f"/v1/valuations/{body['id']}", headers=keys["dealer"])
    assert again.status_code == 200
    assert again.data == response.data  # byte for byte
    assert client.get(f"/v1/valuations/{body['id']}", headers=keys["underwriter"]).data \
        == response.data


def test_another_dealer_cannot_see_it(client, keys) -> None:
    valuation_id = post(client, keys, CAR).json["id"]
    other = client.get(f"/v1/valuations/{valuation_id}", headers=keys["dealer2"])
    assert other.status_code == 404 and other.json["code"] == 404
    missing = client.get("/v1/valuations/nope", headers=keys["dealer"])
    assert missing.status_code == 404 and missing.json["message"] == other.json["message"].replace(
        valuation_id, "nope")


@pytest.mark.parametrize("headers, status", [
    ({}, 401),
    ({"Authorization": "Bearer vk_nothere.secret"}, 401),
    ({"Authorization": "Basic abc"}, 401),
])
def test_missing_or_bad_keys_are_401(client, headers, status) -> None:
    response = client.post("/v1/valuations", json=CAR, headers=headers)
    assert response.status_code == status
    assert response.json["status"] == "Unauthorized"


@pytest.mark.parametrize("role", ["pricing_analyst", "pricing_approver", "admin"])
def test_roles_without_valuation_rights_are_403(client, keys, role) -> None:
    assert post(client, keys, CAR, role=role).status_code == 403


def test_revoked_key_is_401(app, client, keys) -> None:
    from valuation.services import keys as api_keys
    from valuation.store import db
    prefix = keys["dealer"]["Authorization"].split()[1].removeprefix("vk_").split(".")[0]
    with db.session_for(app) as session, session.begin():
        assert api_keys.revoke_key(session, prefix)
    assert post(client, keys, CAR).status_code == 401


def test_open_endpoints(client) -> None:
    assert client.get("/health").status_code == 200
    spec = client.get("/openapi.json")
    assert spec.status_code == 200 and "/v1/valuations" in spec.json["paths"]
    assert client.get("/docs").status_code == 200
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert b"http_requests_total" in client.get("/metrics").data


@pytest.mark.parametrize("field, value", [
    ("brand", None), ("series", ""), ("energy_type", "steam"), ("body_type", "blimp"),
    ("transmission", "cvt-ish"), ("accident", "bad"), ("usage", "racing"),
    ("mileage_km", -1), ("mileage_km", 2_000_001), ("mileage_km", "lots"),
    ("battery_soh_pct", 101), ("battery_soh_pct", -0.1), ("condition_score", 100.5),
    ("transfer_count", -1), ("transfer_count", 1.5), ("model_year", "2020"),
    ("new_price", 0), ("displacement_l", -1), ("flood_damage", "maybe"),
    ("seats", 0), ("seats", 4.5), ("length_mm", 450), ("height_mm", 12_000),
    ("first_registration", "2020-13-01"), ("first_registration", "2099-01-01"),
    ("first_registration", "2025-07-01"),  # after the valuation date
    ("valuation_date", "2099-01-01"), ("vin", "SHORT"), ("mileage_km", 1_500_000),
    ("price", 100000), ("colour", "red"),  # unknown fields
])
def test_every_field_is_validated_at_the_edge(client, keys, field, value) -> None:
    body = dict(CAR)
    if value is None:
        body.pop(field)
    else:
        body[field] = value
    response = post(client, keys, body)
    assert response.status_code == 422, response.json
    assert response.json["status"] == "Unprocessable Entity"
    assert field in response.json["errors"]["json"]


@pytest.mark.parametrize("field", ["brand", "series", "energy_type", "first_registration",
                                   "mileage_km"])
def test_required_fields(client, keys, field) -> None:
    body = {k: v for k, v in CAR.items() if k != field}
    response = post(client, keys, body)
    assert response.status_code == 422
    assert response.json["errors"]["json"][field] == ["Missing data for required field."]


def test_non_json_and_oversized_bodies(app, client, keys) -> None:
    response = client.post("/v1/valuations", data="not json", headers=dict(
        keys["dealer"], **{"Content-Type": "application/json"}))
    assert response.status_code in (400, 422) and "code" in response.json
    app.config["MAX_CONTENT_LENGTH"] = 100
    big = client.post("/v1/valuations", json=CAR, headers=keys["dealer"])
    assert big.status_code == 413 and big.json["code"] == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          None])
def test_a_json_body_sent_as_another_type_is_a_415_that_says_so(client, keys,
                                                                 content_type) -> None:
    headers = dict(keys["dealer"], **({"Content-Type": content_type} if content_type else {}))
    response = client.post("/v1/valuations", data=json.dumps(CAR), headers=headers)
    assert response.status_code == 415
    assert response.json["message"] == (
        "send the body as JSON with Content-Type: application/json (this request's "
        f"Content-Type is {content_type or 'missing'})")
    assert "errors" not in response.json
    # no body at all stays a 422 that names the missing fields
    empty = client.post("/v1/valuations", headers=keys["dealer"])
    assert empty.status_code == 422 and "brand" in empty.json["errors"]["json"]


def test_unknown_brand_is_valued_with_low_confidence(client, keys) -> None:
    body = dict(CAR, brand="Lada", series="Niva", new_price=50000)
    response = post(client, keys, body)
    assert response.status_code == 201
    assert response.json["confidence"]["level"] == "low"
    assert "unknown brand" in response.json["warnings"]


def test_valuation_date_defaults_to_the_business_date(client, keys) -> None:
    """Today in Asia/Shanghai (the default BUSINESS_TIMEZONE), not the server's UTC date."""
    import datetime as dt
    from zoneinfo import ZoneInfo
    body = {k: v for k, v in CAR.items() if k != "valuation_date"}
    response = post(client, keys, body)
    assert response.status_code == 201
    shanghai = dt.datetime.now(dt.UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert response.json["valuation_date"] == str(shanghai)


def test_json_batch_partial_failure(client, keys) -> None:
    rows = [CAR, dict(CAR, mileage_km=-5), dict(CAR, series="汉", brand="比亚迪",
                                                 energy_type="bev", battery_soh_pct=91)]
    response = client.post("/v1/valuations/batch", json={"vehicles": rows},
                           headers=keys["dealer"])
    assert response.status_code == 200
    body = response.json
    assert (body["rows"], body["valued"], body["failed"]) == (3, 2, 1)
    assert [r["row"] for r in body["results"]] == [0, 1, 2]
    assert body["results"][1] == {"row": 1, "errors": {"mileage_km": [
        "Must be greater than or equal to 0 and less than or equal to 2000000."]}}
    for row in (0, 2):  # each valued row is its stored valuation, byte for byte, after its row
        stored = client.get(f"/v1/valuations/{body['results'][row]['id']}",
                            headers=keys["dealer"])
        assert body["results"][row] == {"row": row, **stored.json}
        assert f'{{"row":{row},{stored.get_data(as_text=True)[1:]}' in response.get_data(
            as_text=True)


def test_a_json_batch_builds_no_schema_per_request(client, keys, monkeypatch) -> None:
    """Issue 11: nothing per request that can be done once per process. The batch's schemas
    are built at import; two batches (one with a bad row) build none and answer as before."""
    import marshmallow
    built = []
    real_init = marshmallow.Schema.__init__

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(type(self).__name__)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(marshmallow.Schema, "__init__", counting)
    good = client.post("/v1/valuations/batch", json={"vehicles": [CAR]}, headers=keys["dealer"])
    bad = client.post("/v1/valuations/batch", json={"vehicles": [CAR, dict(CAR, seats="4")]},
                      headers=keys["dealer"])
    assert built == []
    assert (good.json["valued"], bad.json["valued"], bad.json["failed"]) == (1, 1, 1)
    assert bad.json["results"][1]["errors"] == {"seats": ["Not a valid integer."]}


def test_csv_batch_partial_failure(client, keys) -> None:
    header = "brand,series,energy_type,new_price,first_registration,valuation_date,mileage_km\n"
    csv = header + "丰田,凯美瑞,petrol,200000,2022-03,2025-06-01,52000\n" \
                   "丰田,凯美瑞,petrol,200000,2022-03,2025-06-01,-3\n" \
                   "丰田,凯美瑞,diesel-ish,200000,2022,2025-06-01,1000\n"
    response = client.post("/v1/valuations/batch", headers=keys["underwriter"],
                           data={"file": (io.BytesIO(csv.encode()), "cars.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    body = response.json
    assert (body["valued"], body["failed"]) == (1, 2)
    assert body["results"][1]["errors"] == {"mileage_km": [
        "Must be greater than or equal to 0 and less than or equal to 2000000."]}
    assert body["results"][2]["errors"] == {"energy_type": [
        "Must be one of: petrol, diesel, hev, phev, erev, bev, fcev, gas, other."]}


BAD_CARS = [dict(CAR, mileage_km=-3), dict(CAR, mileage_km="abc"),
            dict(CAR, energy_type="diesel-ish"), dict(CAR, seats=4.5), dict(CAR, new_price=0),
            dict(CAR, brand=None), dict(CAR, first_registration="2022-13"),
            dict(CAR, flood_damage="maybe"),
            dict(CAR, first_registration="2025-01-01", mileage_km=900000)]


@pytest.mark.parametrize("good_rows", [0, 70])  # row by row, and vectorised (64 rows or more)
def test_csv_and_json_batches_give_a_bad_row_the_same_errors(client, keys, good_rows) -> None:
    """A dealer app reads a bad row the same way whichever way it sent the batch: by field,
    in the same words."""
    cars = BAD_CARS + [CAR] * good_rows
    as_json = client.post("/v1/valuations/batch", headers=keys["dealer"],
                          json={"vehicles": [{k: v for k, v in car.items() if v is not None}
                                             for car in cars]}).json
    columns = list(dict.fromkeys(k for car in cars for k in car))
    text = "\n".join([",".join(columns)] + [",".join("" if car.get(c) is None else str(car[c])
                                                      for c in columns) for car in cars])
    as_csv = client.post("/v1/valuations/batch", headers=keys["dealer"],
                         data={"file": (io.BytesIO(text.encode()), "cars.csv")},
                         content_type="multipart/form-data").json
    assert (as_json["failed"], as_csv["failed"]) == (len(BAD_CARS), len(BAD_CARS))
    assert [r["errors"] for r in as_csv["results"][:len(BAD_CARS)]] == \
        [r["errors"] for r in as_json["results"][:len(BAD_CARS)]]
    assert as_csv["results"][8]["errors"] == {"mileage_km": [
        "Mileage is impossible for the car's age (over 250,000 km a year)."]}


def test_a_csv_saved_by_excel_in_gbk_is_valued_as_its_utf8_copy(client, keys) -> None:
    csv = ("brand,series,energy_type,new_price,first_registration,valuation_date,mileage_km,"
           "region\n丰田,凯美瑞,petrol,200000,2022-03,2025-06-01,52000,广州\n")

    def post(data: bytes):  # type: ignore[no-untyped-def]
        return client.post("/v1/valuations/batch", headers=keys["underwriter"],
                           data={"file": (io.BytesIO(data), "cars.csv")},
                           content_type="multipart/form-data")

    utf8, gbk = post(csv.encode()), post(csv.encode("gbk"))
    assert utf8.status_code == gbk.status_code == 200
    assert gbk.json["valued"] == 1
    assert gbk.json["results"][0]["value"] == utf8.json["results"][0]["value"]
    latin = post("brand,series\nCitroën,C5\n".encode("latin-1"))
    assert latin.status_code == 422 and "save it as CSV UTF-8" in latin.json["message"]


def test_json_batch_limits(client, keys) -> None:
    too_many = client.post("/v1/valuations/batch", json={"vehicles": [CAR] * 1001},
                           headers=keys["dealer"])
    assert too_many.status_code == 422 and "vehicles" in too_many.json["errors"]["json"]
    empty = client.post("/v1/valuations/batch", data="x", headers=keys["dealer"])
    assert empty.status_code == 422


def test_model_cards(client, keys) -> None:
    listing = client.get("/v1/models", headers=keys["pricing_analyst"])
    assert listing.status_code == 200
    assert listing.json["models"][0]["name"] == "tiny" and listing.json["models"][0]["current"]
    card = client.get("/v1/models/tiny/1", headers=keys["admin"])
    assert card.status_code == 200 and json.loads(card.data)["version"] == "1"
    missing = client.get("/v1/models/tiny/9", headers=keys["admin"])
    assert missing.status_code == 404
    # the public message names no server folder
    assert missing.json["message"] == "model tiny:9 is not in the registry"
    assert client.get("/v1/models", headers=keys["dealer"]).status_code == 403
