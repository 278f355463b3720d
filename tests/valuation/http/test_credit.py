"""The credit-limit API: decisions, idempotency, storage, replay, dealers, bad input."""
import copy
import json
from decimal import Decimal

import pytest

# valued today (a decision needs a valuation dated on the decision date), private use
CAR = {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol", "new_price": 200000,
       "first_registration": "2022-03-01", "mileage_km": 52000, "usage": "private"}
APPLICATION = {
    "application_id": "APP-1",
    "customer": {"score": 700, "monthly_income": 30000, "monthly_debt_payments": 2000},
    "dealer": {"id": "D1", "tier": "T1"},
    "vehicle": CAR, "is_new": False, "declared_price": 120000, "down_payment": 40000,
    "term_months": 36, "annual_rate": "0", "product": "standard",
}


def apply(client, keys, body, role="underwriter"):
    return client.post("/v1/credit-limits", json=body, headers=keys[role])


def with_(**changes):
    body = copy.deepcopy(APPLICATION)
    body.update(changes)
    return body


def test_a_decision_names_its_versions_and_is_stored(client, keys) -> None:
    response = apply(client, keys, APPLICATION)
    assert response.status_code == 201, response.json
    d = response.json
    assert response.headers["Location"] == f"/v1/credit-limits/{d['id']}"
    assert d["strategy"]["name"] == "default" and d["strategy"]["version"] == 1
    assert d["strategy"]["hash"].startswith("sha256:") and d["strategy"]["arm"] == "champion"
    assert d["model"] == {"name": "tiny", "version": "1"}
    assert d["customer_tier"] == "B" and d["segment"] == "used_ice"  # score 700 -> B
    assert d["requested_amount"] == 80000
    assert d["outcome"] in ("approve", "refer")
    assert d["final_limit"] <= d["limit_before_adjustments"] <= d["requested_amount"]
    assert d["final_limit"] % 100 == 0
    assert all({"code", "zh", "en"} <= set(r) for r in d["reasons"])
    valuation = client.get(f"/v1/valuations/{d['valuation_id']}", headers=keys["underwriter"])
    assert valuation.status_code == 200
    stored = client.get(f"/v1/credit-limits/{d['id']}", headers=keys["underwriter"])
    assert stored.data == response.data
    replay = client.post(f"/v1/credit-limits/{d['id']}/replay", headers=keys["underwriter"])
    assert replay.status_code == 200
    assert replay.json["identical"] is True and replay.json["differences"] == {}


def test_hand_computed_limit_on_a_stored_valuation(client, keys) -> None:
    valuation = client.post("/v1/valuations", json=CAR, headers=keys["dealer"]).json
    value = valuation["value"]["retail"]
    declared = value + 10000
    body = with_(application_id="APP-H", vehicle=None, valuation_id=valuation["id"],
                 declared_price=declared, down_payment=declared - 10000,
                 customer={"tier": "A", "monthly_income": 100000}, dealer={"id": "D9",
                                                                          "tier": "T1"})
    d = apply(client, keys, body).json
    # A/T1 used ICE: tolerance 3 %, LTV 70 %; the request of 10,000 is under every cap
    assert d["recognized_price"] == min(declared, value * 10300 // 10000)
    assert d["requested_amount"] == 10000 and d["final_limit"] == 10000
    assert Decimal(d["ltv"]) == Decimal("0.70")


def test_idempotency_same_body_returns_the_decision_different_body_conflicts(client, keys) -> None:
    first = apply(client, keys, with_(application_id="APP-2"))
    again = apply(client, keys, with_(application_id="APP-2"))
    assert again.status_code == 200 and again.data == first.data
    other = apply(client, keys, with_(application_id="APP-2", down_payment=50000))
    assert other.status_code == 409 and "application_id" in other.json["errors"]["json"]


def test_replay_reports_what_differs(app, client, keys) -> None:
    from valuation.store import db
    from valuation.store.tables import CreditDecisionRecord
    d = apply(client, keys, with_(application_id="APP-3")).json
    with db.session_for(app) as session, session.begin():
        record = session.get(CreditDecisionRecord, d["id"])
        body = json.loads(record.response_json)
        body["final_limit"] += 100
        record.response_json = json.dumps(body)
    replay = client.post(f"/v1/credit-limits/{d['id']}/replay", headers=keys["admin"]).json
    assert replay["identical"] is False
    assert replay["differences"] == {"final_limit": {"stored": d["final_limit"] + 100,
                                                     "replayed": d["final_limit"]}}


def test_dealer_table_supplies_the_tier_and_unknown_dealers_are_cautious(client, keys) -> None:
    put = client.put("/v1/dealers/D7", json={"name": "Shop 7", "tier": "T2"},
                     headers=keys["admin"])
    assert put.status_code == 200 and put.json == {"id": "D7", "name": "Shop 7", "tier": "T2"}
    assert client.get("/v1/dealers/D7", headers=keys["underwriter"]).json["tier"] == "T2"
    known = apply(client, keys, with_(application_id="APP-4", dealer={"id": "D7"})).json
    assert known["dealer_tier"] == "T2"
    unknown = apply(client, keys, with_(application_id="APP-5", dealer={"id": "NEW"})).json
    assert unknown["dealer_tier"] == "T3"
    assert "DEALER_TIER_UNKNOWN" in [r["code"] for r in unknown["reasons"]]
    assert client.put("/v1/dealers/D7", json={"name": "x", "tier": "T9"},
                      headers=keys["admin"]).status_code == 422
    assert client.put("/v1/dealers/D7", json={"name": "x"},
                      headers=keys["underwriter"]).status_code == 403
    assert client.get("/v1/dealers/none", headers=keys["admin"]).status_code == 404


@pytest.mark.parametrize("changes, status, field", [
    (dict(declared_price=0), 422, "declared_price"),
    (dict(declared_price=-5), 422, "declared_price"),
    (dict(down_payment=130000), 422, "down_payment"),
    (dict(customer={"tier": "Z", "monthly_income": 1}), 422, "customer.tier"),
    (dict(customer={"monthly_income": 1}), 422, "customer"),
    (dict(valuation_id="nope", vehicle=None), 404, None),
    (dict(valuation_id="x"), 422, "valuation_id"),  # both given
    (dict(vehicle=dict(CAR, mileage_km=-1)), 422, "vehicle"),
    (dict(annual_rate="2"), 422, "annual_rate"),
    (dict(dealer={"id": "D1", "tier": "T9"}), 422, "dealer.tier"),
])
def test_bad_input_is_4xx_naming_the_field(client, keys, changes, status, field) -> None:
    response = apply(client, keys, with_(application_id="BAD", **changes))
    assert response.status_code == status, response.json
    if field:
        assert field in response.json["errors"]["json"]


def test_a_term_outside_the_product_declines(client, keys) -> None:
    d = apply(client, keys, with_(application_id="TERM", term_months=72)).json  # product: 12-60
    assert d["outcome"] == "decline" and d["final_limit"] == 0
    assert d["reasons"][0]["code"] == "TERM_NOT_OFFERED"


def test_roles(client, keys) -> None:
    assert apply(client, keys, APPLICATION, role="dealer").status_code == 403
    assert apply(client, keys, APPLICATION, role="pricing_analyst").status_code == 403
    assert client.post("/v1/credit-limits", json=APPLICATION).status_code == 401


def test_a_valuation_from_a_csv_batch_is_typed_for_the_rules(client, keys) -> None:
    import io
    csv = ("brand,series,energy_type,new_price,first_registration,usage,mileage_km,"
           "flood_damage\n丰田,凯美瑞,petrol,200000,2022-03,private,52000,True\n"
           "丰田,凯美瑞,petrol,200000,2022-03,private,52000,False\n")
    batch = client.post("/v1/valuations/batch", headers=keys["underwriter"],
                        data={"file": (io.BytesIO(csv.encode()), "cars.csv")},
                        content_type="multipart/form-data").json
    flooded, clean = (r["id"] for r in batch["results"])
    d1 = apply(client, keys, with_(application_id="CSV-1", vehicle=None, valuation_id=flooded))
    d2 = apply(client, keys, with_(application_id="CSV-2", vehicle=None, valuation_id=clean))
    assert d1.status_code == d2.status_code == 201
    assert d1.json["outcome"] == "decline"
    assert d1.json["reasons"][0]["code"] == "DECLINE_FLOOD_DAMAGE"
    assert "DECLINE_FLOOD_DAMAGE" not in [r["code"] for r in d2.json["reasons"]]
