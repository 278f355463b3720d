"""Channel (dealer) risk from stored decisions, and a tier change through maker-checker that
credit decisions then use."""
from __future__ import annotations

import copy

from valuation.services import keys as api_keys
from valuation.store import db

from .test_credit import APPLICATION

CAR = APPLICATION["vehicle"]


def apply_for(client, keys, n: int, declared: int, dealer: str = "D1", tag: str = "A"):
    outcomes = []
    for i in range(n):
        body = copy.deepcopy(APPLICATION)
        body.update(application_id=f"{dealer}-{tag}-{i}", declared_price=declared,
                    down_payment=declared // 3, dealer={"id": dealer})
        response = client.post("/v1/credit-limits", json=body, headers=keys["underwriter"])
        assert response.status_code == 201, response.json
        outcomes.append(response.json)
    return outcomes


def test_an_inflating_dealer_is_scored_and_its_tier_changed_by_two_people(app, client,
                                                                          keys) -> None:
    assert client.put("/v1/dealers/D1", json={"name": "Shop One", "tier": "T1"},
                      headers=keys["admin"]).status_code == 200
    honest = apply_for(client, keys, 5, 60_000, tag="ok")  # well below the car's value
    inflated = apply_for(client, keys, 7, 400_000, tag="hi")  # far above it
    assert all(d["recognized_price"] == d["declared_price"] for d in honest)
    assert all(d["recognized_price"] < d["declared_price"] for d in inflated)
    risk = client.get("/v1/dealers/D1/risk", headers=keys["underwriter"])
    assert risk.status_code == 200, risk.json
    r = risk.json
    assert (r["applications"], r["tier"]) == (12, "T1")
    assert r["inflated_share"] == "0.5833"  # 7 of 12, in basis points half up
    refers = sum(d["outcome"] == "refer" for d in honest + inflated)
    declines = sum(d["outcome"] == "decline" for d in honest + inflated)
    assert r["refer_rate"] == f"{round(refers * 10_000 / 12) / 10_000:.4f}"
    assert r["decline_rate"] == f"{round(declines * 10_000 / 12) / 10_000:.4f}"
    assert r["alert_share"] == r["early_arrears"] == "0.0000"  # no loans
    codes = [d["code"] for d in r["drivers"]]
    assert codes[:2] == ["inflated_share", "median_gap"]  # 58 % > 20 %; the 7th gap > 10 %
    assert r["score"] >= 50 and r["proposed_tier"] in ("T2", "T3")
    listing = client.get("/v1/dealers/risk?sort=score", headers=keys["admin"]).json
    assert listing["dealers"][0]["dealer_id"] == "D1" and listing["policy_version"] == 1

    with db.session_for(app) as session, session.begin():  # the proposer's own admin key
        own = api_keys.create_key(session, "admin", "underwriter-test")
    proposed = client.post("/v1/dealers/D1/tier-changes", headers=keys["underwriter"],
                           json={"tier": "T3", "comment": "inflated prices"})
    assert proposed.status_code == 201 and proposed.json["state"] == "proposed"
    assert proposed.json["risk"]["applications"] == 12
    change = proposed.json["id"]
    refused = client.post(f"/v1/dealers/tier-changes/{change}/apply", json={"comment": "ok"},
                          headers={"Authorization": f"Bearer {own}"})
    assert refused.status_code == 403 and "maker-checker" in refused.json["message"]
    assert client.get("/v1/dealers/D1", headers=keys["admin"]).json["tier"] == "T1"
    applied = client.post(f"/v1/dealers/tier-changes/{change}/apply", json={"comment": "agreed"},
                          headers=keys["admin"])
    assert applied.status_code == 200 and applied.json["state"] == "applied"
    assert client.get("/v1/dealers/D1", headers=keys["admin"]).json["tier"] == "T3"
    twice = client.post(f"/v1/dealers/tier-changes/{change}/reject", json={"comment": "no"},
                        headers=keys["admin"])
    assert twice.status_code == 409
    after = apply_for(client, keys, 1, 60_000, tag="after")[0]
    assert after["dealer_tier"] == "T3"  # decisions use the applied tier
    history = client.get("/v1/dealers/D1/tier-changes", headers=keys["underwriter"]).json
    assert [(c["from_tier"], c["to_tier"], c["state"], c["decided_by"])
            for c in history["changes"]] == [("T1", "T3", "applied", "admin-test")]


def test_bad_proposals_and_a_rejection(client, keys) -> None:
    assert client.put("/v1/dealers/D2", json={"name": "Shop Two", "tier": "T2"},
                      headers=keys["admin"]).status_code == 200
    same = client.post("/v1/dealers/D2/tier-changes", headers=keys["underwriter"],
                       json={"tier": "T2", "comment": "no change"})
    assert same.status_code == 409
    unknown = client.post("/v1/dealers/D2/tier-changes", headers=keys["underwriter"],
                          json={"tier": "T9", "comment": "made up"})
    assert unknown.status_code == 422
    nobody = client.post("/v1/dealers/NOBODY/tier-changes", headers=keys["underwriter"],
                         json={"tier": "T1", "comment": "x"})
    assert nobody.status_code == 404
    change = client.post("/v1/dealers/D2/tier-changes", headers=keys["underwriter"],
                         json={"tier": "T1", "comment": "good record"}).json["id"]
    rejected = client.post(f"/v1/dealers/tier-changes/{change}/reject",
                           json={"comment": "too early"}, headers=keys["admin"])
    assert rejected.status_code == 200 and rejected.json["state"] == "rejected"
    assert client.get("/v1/dealers/D2", headers=keys["admin"]).json["tier"] == "T2"
    quiet = client.get("/v1/dealers/D2/risk", headers=keys["admin"]).json
    assert quiet["applications"] == 0 and quiet["score"] is None


def test_a_dealers_tier_is_set_once_by_put_and_then_changed_only_by_maker_checker(
        client, keys) -> None:
    def put(body: dict):  # type: ignore[no-untyped-def]
        return client.put("/v1/dealers/D8", json=body, headers=keys["admin"])

    def tier() -> str | None:
        return client.get("/v1/dealers/D8", headers=keys["admin"]).json["tier"]

    assert put({"name": "Shop Eight"}).json == {"id": "D8", "name": "Shop Eight", "tier": None}
    assert put({"name": "Shop Eight", "tier": "T2"}).json["tier"] == "T2"  # its first tier
    # one admin alone cannot move it, nor drop it by leaving the tier out
    moved = put({"name": "Shop Eight", "tier": "T1"})
    assert moved.status_code == 409 and "tier-changes" in moved.json["message"]
    assert moved.json["errors"] == {"json": {"tier": ["changes only through a tier change"]}}
    assert tier() == "T2"
    renamed = put({"name": "Shop 8"})
    assert renamed.status_code == 200 and renamed.json == {"id": "D8", "name": "Shop 8",
                                                           "tier": "T2"}
    assert put({"name": "Shop 8", "tier": "T2"}).status_code == 200  # the same tier
    change = client.post("/v1/dealers/D8/tier-changes", headers=keys["underwriter"],
                         json={"tier": "T1", "comment": "clean for a year"}).json["id"]
    client.post(f"/v1/dealers/tier-changes/{change}/apply", json={"comment": "agreed"},
                headers=keys["admin"])
    assert tier() == "T1"
