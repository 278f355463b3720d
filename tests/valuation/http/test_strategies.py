"""The strategy lifecycle API: states, maker-checker, ETags, rollback, audit, diff, YAML,
simulation, champion/challenger."""
import copy
import io

import pytest
import yaml

from strategies.document import DEFAULT_PATH
from valuation.services import experiments
from valuation.services import keys as api_keys
from valuation.store import db

DOC = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
BASE = "/v1/strategies/default"


def tighter(value: float = 0.60) -> dict:
    doc = copy.deepcopy(DOC)
    doc["ltv_max"]["used_ice"]["A"]["T1"] = value
    return doc


@pytest.fixture
def approver2(app) -> dict:
    with db.session_for(app) as session, session.begin():
        key = api_keys.create_key(session, "pricing_approver", "approver-two")
    return {"Authorization": f"Bearer {key}"}


def draft(client, keys, doc=None) -> dict:
    response = client.post(f"{BASE}/versions", json=doc or tighter(), headers=keys["pricing_analyst"])
    assert response.status_code == 201, response.json
    return response


def step(client, headers, version, action, **extra):
    """A lifecycle action; approve and activate name the content hash just read (reviewed)."""
    body = {"comment": f"{action} it", **extra}
    if action in ("approve", "activate") and "hash" not in body:
        body["hash"] = client.get(f"{BASE}/versions/{version}", headers=headers).json["hash"]
    return client.post(f"{BASE}/versions/{version}/{action}", json=body, headers=headers)


def to_active(client, keys, doc=None) -> int:
    version = draft(client, keys, doc).json["version"]
    assert step(client, keys["pricing_analyst"], version, "submit").status_code == 200
    assert step(client, keys["pricing_approver"], version, "approve").status_code == 200
    assert step(client, keys["pricing_approver"], version, "activate").status_code == 200
    return version


def test_the_default_is_seeded_as_active_version_1(client, keys) -> None:
    body = client.get(BASE, headers=keys["pricing_analyst"]).json
    assert body["active"]["version"] == 1 and body["active"]["state"] == "active"
    assert body["active"]["document"]["name"] == "default"
    listing = client.get("/v1/strategies", headers=keys["admin"]).json
    assert listing["strategies"] == [{"name": "default", "active_version": 1, "experiment": None}]


def test_full_lifecycle_and_audit(client, keys) -> None:
    client.get(BASE, headers=keys["admin"])  # seeds version 1
    created = draft(client, keys)
    version = created.json["version"]
    assert version == 2 and created.json["state"] == "draft"
    assert created.headers["ETag"] == '"default-2-r1"'
    assert step(client, keys["pricing_analyst"], version, "submit").json["state"] == "submitted"
    assert step(client, keys["pricing_approver"], version, "approve").json["state"] == "approved"
    active = step(client, keys["pricing_approver"], version, "activate")
    assert active.json["state"] == "active"
    states = {v["version"]: v["state"]
              for v in client.get(BASE, headers=keys["admin"]).json["versions"]}
    assert states == {1: "retired", 2: "active"}
    back = client.post(f"{BASE}/rollback", json={"to_version": 1, "comment": "too tight"},
                       headers=keys["pricing_approver"])
    assert back.status_code == 200 and back.json["state"] == "active"
    log = client.get(f"{BASE}/audit", headers=keys["pricing_analyst"]).json["entries"]
    assert [(e["version"], e["action"], e["actor"]) for e in log] == [
        (1, "seed", "system"),
        (2, "create", "pricing_analyst-test"),
        (2, "submit", "pricing_analyst-test"),
        (2, "approve", "pricing_approver-test"),
        (1, "retire", "pricing_approver-test"),
        (2, "activate", "pricing_approver-test"),
        (2, "retire", "pricing_approver-test"),
        (1, "rollback", "pricing_approver-test"),
    ]
    assert log[2]["comment"] == "submit it" and log[7]["comment"] == "too tight"
    assert log[1]["diff"] == [{"path": "ltv_max[used_ice][A][T1]", "from": 0.7, "to": 0.6}]


def test_forbidden_transitions(client, keys, approver2) -> None:
    version = draft(client, keys).json["version"]
    analyst, approver = keys["pricing_analyst"], keys["pricing_approver"]
    assert step(client, approver, version, "approve").status_code == 409  # not submitted
    assert step(client, approver, version, "activate").status_code == 409  # not approved
    assert step(client, analyst, version, "submit").status_code == 200
    edit = client.put(f"{BASE}/versions/{version}", json=tighter(0.5),
                      headers=dict(analyst, **{"If-Match": f'"default-{version}-r1"'}))
    assert edit.status_code == 409  # a submitted version is not editable
    assert step(client, analyst, version, "approve").status_code == 403  # wrong role
    assert step(client, approver, version, "submit").status_code == 403  # wrong role
    no_comment = client.post(f"{BASE}/versions/{version}/approve", json={}, headers=approver)
    assert no_comment.status_code == 422 and "comment" in no_comment.json["errors"]["json"]


def test_maker_checker(app, client, keys) -> None:
    with db.session_for(app) as session, session.begin():
        both = api_keys.create_key(session, "pricing_analyst", "same-person")
        self_approver = api_keys.create_key(session, "pricing_approver", "same-person")
    maker = {"Authorization": f"Bearer {both}"}
    checker = {"Authorization": f"Bearer {self_approver}"}
    version = client.post(f"{BASE}/versions", json=tighter(), headers=maker).json["version"]
    assert step(client, maker, version, "submit").status_code == 200
    own = step(client, checker, version, "approve")
    assert own.status_code == 403 and "maker-checker" in own.json["message"]
    assert step(client, keys["pricing_approver"], version, "approve").status_code == 200


def test_optimistic_concurrency(client, keys) -> None:
    created = draft(client, keys)
    version, tag = created.json["version"], created.headers["ETag"]
    url, analyst = f"{BASE}/versions/{version}", keys["pricing_analyst"]
    assert client.put(url, json=tighter(0.55), headers=analyst).status_code == 428
    first = client.put(url, json=tighter(0.55), headers=dict(analyst, **{"If-Match": tag}))
    second = client.put(url, json=tighter(0.50), headers=dict(analyst, **{"If-Match": tag}))
    assert (first.status_code, second.status_code) == (200, 412)
    assert first.headers["ETag"] == f'"default-{version}-r2"'
    now = client.get(url, headers=analyst).json
    assert now["document"]["ltv_max"]["used_ice"]["A"]["T1"] == 0.55


def test_invalid_documents_are_refused(client, keys) -> None:
    before = client.get(BASE, headers=keys["admin"]).json
    bad = tighter(0.75)  # above the regulatory 70 % for used cars
    response = client.post(f"{BASE}/versions", json=bad, headers=keys["pricing_analyst"])
    assert response.status_code == 422
    assert "ltv_max[used_ice][A][T1]" in response.json["errors"]["json"]
    other = client.post(f"{BASE}/versions", json=dict(tighter(), name="other"),
                        headers=keys["pricing_analyst"])
    assert other.status_code == 422 and "name" in other.json["errors"]["json"]
    garbage = client.post(f"{BASE}/versions", data="{", headers=dict(
        keys["pricing_analyst"], **{"Content-Type": "application/json"}))
    assert garbage.status_code == 422
    # a good YAML document sent as another type (curl's default is a form) is a 415
    text = yaml.safe_dump(tighter(0.65), allow_unicode=True)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        extra = {"Content-Type": content_type} if content_type else {}
        sent = client.post(f"{BASE}/versions", data=text.encode(),
                           headers=dict(keys["pricing_analyst"], **extra))
        assert sent.status_code == 415
        assert sent.json["message"] == (
            "send the document as JSON (Content-Type: application/json) or YAML "
            "(Content-Type: application/yaml); this request's Content-Type is "
            f"{content_type or 'missing'}")
    empty = client.post(f"{BASE}/versions", headers=keys["pricing_analyst"])
    assert empty.status_code == 422
    assert empty.json["message"] == "the body is not a JSON or YAML document"
    # nothing was stored, and the active version keeps serving
    after = client.get(BASE, headers=keys["admin"]).json
    assert after["active"] == before["active"] and after["versions"] == before["versions"]
    assert after["active"]["version"] == 1 and after["active"]["state"] == "active"


def test_yaml_import_export_and_diff(client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    text = yaml.safe_dump(tighter(0.65), allow_unicode=True)
    created = client.post(f"{BASE}/versions", data=text.encode(), headers=dict(
        keys["pricing_analyst"], **{"Content-Type": "application/yaml"}))
    assert created.status_code == 201
    version = created.json["version"]
    exported = client.get(f"{BASE}/versions/{version}?format=yaml", headers=keys["admin"])
    assert exported.mimetype == "application/yaml"
    again = yaml.safe_load(exported.data)
    assert again["version"] == version and again["ltv_max"]["used_ice"]["A"]["T1"] == 0.65
    d = client.get(f"{BASE}/diff?from=1&to={version}", headers=keys["pricing_approver"]).json
    assert d["lines"] == ["ltv_max[used_ice][A][T1]: 0.7 -> 0.65"]
    assert client.get(f"{BASE}/diff?from=1&to=99", headers=keys["admin"]).status_code == 404


APPS_CSV = ",".join([
    "application_id", "declared_price", "down_payment", "term_months", "annual_rate", "is_new",
    "energy_type", "usage", "first_registration", "mileage_km", "flood_damage", "fire_damage",
    "monthly_income", "monthly_debt_payments", "decision_date", "customer_score",
    "customer_tier", "dealer_tier", "product", "valuation", "confidence_level"]) + """
A1,100000,30000,36,0,False,petrol,private,2020-01-01,50000,False,False,20000,0,2025-01-01,,A,T1,,100000,high
A2,100000,0,36,0,False,petrol,private,2020-01-01,50000,False,False,20000,0,2025-01-01,,A,T1,,100000,high
A3,100000,30000,36,0,False,petrol,private,2020-01-01,50000,True,False,20000,0,2025-01-01,,A,T1,,100000,high
A4,100000,30000,36,0,False,bev,private,2020-01-01,50000,False,False,20000,0,2025-01-01,,B,T2,,100000,low
"""


def test_simulation_on_hand_built_applications(client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    version = draft(client, keys, tighter(0.60)).json["version"]
    response = client.post(f"{BASE}/simulations", headers=keys["pricing_analyst"],
                           data={"candidate_version": str(version),
                                 "file": (io.BytesIO(APPS_CSV.encode()), "apps.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    report = response.json
    # baseline: A1 70,000 approve; A2 70,000 approve; A3 declined (flood); A4 referred (low conf.)
    assert report["baseline"] == {"applications": 4, "approve": 2, "refer": 1, "decline": 1,
                                  "total_final_limit": 70000 + 70000 + 0 + 55000,
                                  "mean_final_limit": 48750.0, "price_capped_share": 0.0,
                                  "mean_ltv": 0.6625}  # (3 x 0.70 + 0.55) / 4
    # candidate: used_ice A/T1 LTV 60 %: A1 and A2 get 60,000
    assert report["candidate"]["total_final_limit"] == 60000 + 60000 + 0 + 55000
    assert report["limit_changed"] == 2 and report["outcome_changed"] == 0
    assert report["reasons_added"] == {"LTV_CAP": 1}
    assert "reject inference" in report["limitations"]
    stored = client.get(f"{BASE}/simulations/{report['id']}", headers=keys["pricing_approver"])
    assert stored.json == report


def application(app_id: str, customer_id: str | None = None) -> dict:
    customer = {"tier": "A", "monthly_income": 50000, "id": customer_id or f"C-{app_id}"}
    return {"application_id": app_id, "customer": customer,
            "dealer": {"id": "D1", "tier": "T1"}, "is_new": False,
            "vehicle": {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol",
                        "new_price": 200000, "first_registration": "2022-03-01",
                        "mileage_km": 52000, "usage": "private"},
            "declared_price": 100000, "down_payment": 0, "term_months": 36, "annual_rate": "0"}


def used_ice_a_t1_limit(value: int, ltv_bps: int) -> int:
    """By hand: declared 100,000, nothing down; tolerance 3 %, the grid LTV on the declared and
    on the recognised price, the regulatory 70 % on min(declared, value); rounded to 100."""
    recognized = min(100_000, value * 10_300 // 10_000)
    amount = min(100_000, 100_000 * ltv_bps // 10_000, recognized * ltv_bps // 10_000,
                 min(100_000, value) * 7_000 // 10_000)
    return amount // 100 * 100


def test_simulation_over_stored_decisions(client, keys) -> None:
    assert client.post("/v1/credit-limits", json=application("S1"),
                       headers=keys["underwriter"]).status_code == 201
    version = draft(client, keys).json["version"]
    report = client.post(f"{BASE}/simulations", json={"candidate_version": version},
                         headers=keys["pricing_analyst"]).json
    assert report["baseline"]["applications"] == 1 and report["candidate_version"] == version


def test_a_bad_simulation_request_is_a_422_naming_its_fields(client, keys) -> None:
    fields = client.post(f"{BASE}/simulations", json={"candidate_version": "two", "from": 123},
                         headers=keys["pricing_analyst"])
    assert fields.status_code == 422
    assert set(fields.json["errors"]["json"]) == {"candidate_version", "from"}
    a_list = client.post(f"{BASE}/simulations", json=[1], headers=keys["pricing_analyst"])
    assert a_list.status_code == 422
    assert a_list.json["errors"]["json"] == {"_schema": ["Invalid input type."]}


def test_buckets_are_stable_and_split_as_configured() -> None:
    ids = [f"APP-{i}" for i in range(10_000)]
    first = [experiments.bucket(i, "s1") for i in ids]
    assert first == [experiments.bucket(i, "s1") for i in ids]
    share = sum(b < 10 for b in first) / len(ids)
    assert abs(share - 0.10) <= 0.02
    assert first != [experiments.bucket(i, "other salt") for i in ids]


def test_live_and_shadow_experiments(client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    challenger = draft(client, keys, tighter(0.60)).json["version"]
    step(client, keys["pricing_analyst"], challenger, "submit")
    step(client, keys["pricing_approver"], challenger, "approve")
    put = client.put(f"{BASE}/experiment", json={"challenger_version": challenger,
                                                  "share_pct": 50, "mode": "live", "salt": "x"},
                     headers=keys["pricing_approver"])
    assert put.status_code == 200
    arms = {}
    for i in range(12):
        app_id = f"L{i}"
        d = client.post("/v1/credit-limits", json=application(app_id),
                        headers=keys["underwriter"]).json
        expected = "challenger" if experiments.bucket(f"C-{app_id}", "x") < 50 else "champion"
        assert d["strategy"]["arm"] == expected
        assert d["strategy"]["champion_version"] == 1
        assert d["strategy"]["challenger_version"] == challenger
        assert d["strategy"]["version"] == (challenger if expected == "challenger" else 1)
        # each arm's limit comes from its own grid: used_ice A/T1 70 % (v1) or 60 % (challenger)
        value = client.get(f"/v1/valuations/{d['valuation_id']}",
                           headers=keys["underwriter"]).json["value"]["retail"]
        ltv = 6_000 if expected == "challenger" else 7_000
        assert d["final_limit"] == used_ice_a_t1_limit(value, ltv)
        arms[expected] = arms.get(expected, 0) + 1
    report = client.get(f"{BASE}/experiment/report", headers=keys["pricing_analyst"]).json
    assert {k: v["decisions"] for k, v in report["arms"].items()} == {
        "champion": arms.get("champion", 0), "challenger": arms.get("challenger", 0)}
    assert client.get(f"{BASE}/experiments/report",
                      headers=keys["pricing_analyst"]).status_code == 200
    shadow = client.put(f"{BASE}/experiment", json={"challenger_version": challenger,
                                                     "share_pct": 50, "mode": "shadow",
                                                     "salt": "x"},
                        headers=keys["pricing_approver"])
    assert shadow.status_code == 200
    ids = [f"SH{i}" for i in range(40)]
    in_bucket = next(i for i in ids if experiments.bucket(f"C-{i}", "x") < 50)
    d = client.post("/v1/credit-limits", json=application(in_bucket),
                    headers=keys["underwriter"]).json
    assert d["strategy"]["arm"] == "champion" and d["strategy"]["version"] == 1
    after = client.get(f"{BASE}/experiment/report", headers=keys["pricing_analyst"]).json
    assert after["arms"]["challenger"]["decisions"] == 1  # the shadow decision
    assert client.delete(f"{BASE}/experiment",
                         headers=keys["pricing_approver"]).status_code == 204
    assert client.get(f"{BASE}/experiment/report",
                      headers=keys["pricing_analyst"]).status_code == 404


def test_simulation_changes_are_paged_from_the_database(client, keys) -> None:
    for i in range(3):
        assert client.post("/v1/credit-limits", json=application(f"P{i}"),
                           headers=keys["underwriter"]).status_code == 201
    version = draft(client, keys, tighter(0.50)).json["version"]
    report = client.post(f"{BASE}/simulations", json={"candidate_version": version},
                         headers=keys["pricing_analyst"]).json
    assert report["limit_changed"] == 3
    url = f"{BASE}/simulations/{report['id']}/changes"
    first = client.get(f"{url}?per_page=2", headers=keys["pricing_analyst"]).json
    second = client.get(f"{url}?per_page=2&page=2", headers=keys["pricing_analyst"]).json
    assert (first["total"], len(first["changes"]), len(second["changes"])) == (3, 2, 1)
    rows = first["changes"] + second["changes"]
    assert [r["application_id"] for r in rows] == ["P0", "P1", "P2"]
    assert [r["seq"] for r in rows] == [0, 1, 2]
    # the report's total change is the sum of the stored rows' changes
    assert report["total_limit_change"] == sum(r["candidate_limit"] - r["base_limit"]
                                               for r in rows) < 0
    assert all(r["candidate_limit"] <= r["base_limit"] * 50 // 70 + 100 for r in rows)
    only = client.get(f"{url}?outcome_changed=true", headers=keys["pricing_analyst"]).json
    assert only["total"] == report["outcome_changed"]
    assert client.get(f"{url}?per_page=999", headers=keys["pricing_analyst"]).status_code == 422
