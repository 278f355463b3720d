"""Issue 10, the service's part: each reported case reproduced through the API or the services,
with hand-written expectations."""
from __future__ import annotations

import copy
import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy
import yaml

from strategies.document import DEFAULT_PATH
from strategies.frame import decide_frame
from valuation import create_app
from valuation.config import Config
from valuation.errors import PreconditionFailed
from valuation.services import activation, experiments, lifecycle, simulations, strategy_store
from valuation.services.keys import Principal
from valuation.store import db
from valuation.store.tables import (
    CreditDecisionRecord,
    ExperimentRecord,
    StrategyVersionRecord,
    ValuationRecord,
)

DOC = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
BASE = "/v1/strategies/default"
CAR = {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol", "new_price": 200000,
       "first_registration": "2022-03-01", "mileage_km": 52000, "usage": "private"}
ANALYST = Principal("analyst-one", "pricing_analyst", "p1", None)
APPROVER = Principal("approver-one", "pricing_approver", "p2", None)


def application(app_id: str, customer_id: str | None = None, **changes: object) -> dict:
    body = {"application_id": app_id,
            "customer": {"tier": "A", "monthly_income": 50000, "id": customer_id or app_id},
            "dealer": {"id": "D1", "tier": "T1"}, "is_new": False, "vehicle": dict(CAR),
            "declared_price": 100000, "down_payment": 0, "term_months": 36, "annual_rate": "0"}
    body.update(changes)
    return body


def decide(client, keys, body):
    return client.post("/v1/credit-limits", json=body, headers=keys["underwriter"])


def document(edit=None) -> dict:
    doc = copy.deepcopy(DOC)
    if edit:
        edit(doc)
    return doc


def approved(client, keys, doc: dict, name: str = "default") -> int:
    """A version of `doc` taken through create, submit and approve (with its hash)."""
    url = f"/v1/strategies/{name}/versions"
    created = client.post(url, json=dict(doc, name=name), headers=keys["pricing_analyst"])
    assert created.status_code == 201, created.json
    version, content = created.json["version"], created.json["hash"]
    assert client.post(f"{url}/{version}/submit", json={"comment": "please"},
                       headers=keys["pricing_analyst"]).status_code == 200
    ok = client.post(f"{url}/{version}/approve", json={"comment": "fine by me", "hash": content},
                     headers=keys["pricing_approver"])
    assert ok.status_code == 200, ok.json
    return version


def activate(client, keys, version: int, name: str = "default", **extra):
    content = client.get(f"/v1/strategies/{name}/versions/{version}",
                         headers=keys["pricing_approver"]).json["hash"]
    return client.post(f"/v1/strategies/{name}/versions/{version}/activate",
                       json={"comment": "go live", "hash": content, **extra},
                       headers=keys["pricing_approver"])


def start_experiment(client, keys, version: int, mode: str, share: int = 50, salt: str = "s"):
    return client.put(f"{BASE}/experiment", json={"challenger_version": version,
                                                  "share_pct": share, "mode": mode,
                                                  "salt": salt},
                      headers=keys["pricing_approver"])


def subject_in(arm: str, salt: str = "s", share: int = 50) -> str:
    for i in range(1_000):
        inside = experiments.bucket(f"C{i}", salt) < share
        if inside == (arm == "challenger"):
            return f"C{i}"
    raise AssertionError("no subject found")


# case 3: a shadow challenger never changes the production answer ---------------------------

def test_case_3_a_shadow_challenger_that_declines_never_rejects_the_application(
        app, client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    only_48 = approved(client, keys, document(
        lambda d: d["products"]["standard"].update(max_term_months=48)))
    assert start_experiment(client, keys, only_48, "shadow").status_code == 200
    response = decide(client, keys, application("SH-60", subject_in("challenger"),
                                                term_months=60))
    assert response.status_code == 201, response.json
    assert response.json["strategy"]["arm"] == "champion" and response.json["outcome"] != "decline"
    with db.session_for(app) as session:
        shadow = json.loads(session.get(CreditDecisionRecord, response.json["id"]).shadow_json)
    assert shadow["outcome"] == "decline" and shadow["reasons"][0]["code"] == "TERM_NOT_OFFERED"


def test_case_3_a_challenger_that_cannot_decide_is_stored_or_falls_back(app, client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    no_a = approved(client, keys, document(lambda d: _drop_customer_tier_a(d)))
    assert start_experiment(client, keys, no_a, "shadow").status_code == 200
    shadow = decide(client, keys, application("E-1", subject_in("challenger")))
    assert shadow.status_code == 201 and shadow.json["strategy"]["arm"] == "champion"
    with db.session_for(app) as session:
        stored = json.loads(session.get(CreditDecisionRecord, shadow.json["id"]).shadow_json)
    assert "tier 'A' is not in the strategy" in stored["error"]
    assert start_experiment(client, keys, no_a, "live").status_code == 409  # dry run refuses
    with db.session_for(app) as session, session.begin():  # as if started before any decision
        session.query(ExperimentRecord).update({"mode": "live"})
    live = decide(client, keys, application("E-2", subject_in("challenger")))
    assert live.status_code == 201 and live.json["strategy"]["arm"] == "champion"
    assert live.json["strategy"]["fallback"].startswith("challenger could not decide")


def _drop_customer_tier_a(d: dict) -> None:
    d["customer_tiers"]["order"] = ["B", "C", "D", "E"]
    d["customer_tiers"]["score_bands"] = [b for b in d["customer_tiers"]["score_bands"]
                                          if b["tier"] != "A"]
    for grid in ("price_tolerance", "ltv_max"):
        for cells in d[grid].values():
            cells.pop("A")


# case 4: an approved version's document never changes ------------------------------------

def test_case_4_an_edit_interleaved_with_submit_and_approve_is_refused(app, client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    created = client.post(f"{BASE}/versions", json=document(), headers=keys["pricing_analyst"])
    version, tag = created.json["version"], created.headers["ETag"]
    editor = db.session_for(app)
    read = lifecycle.get_version(editor, "default", version)  # the editor has read the draft
    assert read.state == lifecycle.DRAFT
    with db.session_for(app) as other, other.begin():  # meanwhile: submitted and approved
        lifecycle.submit(other, ANALYST, "default", version, "ready")
        lifecycle.approve(other, APPROVER, "default", version, "ok", read.content_hash)
    changed = document(lambda d: d["ltv_max"]["used_ice"]["A"].update(T1=0.5))
    with pytest.raises(PreconditionFailed):
        lifecycle.update_draft(editor, ANALYST, "default", version, changed, tag)
    editor.rollback()
    editor.close()
    now = client.get(f"{BASE}/versions/{version}", headers=keys["admin"]).json
    assert now["state"] == "approved" and now["hash"] == created.json["hash"]
    log = client.get(f"{BASE}/audit", headers=keys["admin"]).json["entries"]
    assert [e["action"] for e in log if e["version"] == version] == ["create", "submit", "approve"]


def test_case_4_approve_and_activate_name_the_reviewed_content(client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    created = client.post(f"{BASE}/versions", json=document(), headers=keys["pricing_analyst"])
    version = created.json["version"]
    client.post(f"{BASE}/versions/{version}/submit", json={"comment": "go live"},
                headers=keys["pricing_analyst"])
    stale = client.post(f"{BASE}/versions/{version}/approve",
                        json={"comment": "looks right", "hash": "sha256:" + "0" * 64},
                        headers=keys["pricing_approver"])
    assert stale.status_code == 412
    missing = client.post(f"{BASE}/versions/{version}/approve", json={"comment": "looks right"},
                          headers=keys["pricing_approver"])
    assert missing.status_code == 422 and "hash" in missing.json["errors"]["json"]
    assert client.post(f"{BASE}/versions/{version}/approve",
                       json={"comment": "looks right", "hash": created.json["hash"]},
                       headers=keys["pricing_approver"]).status_code == 200
    wrong = client.post(f"{BASE}/versions/{version}/activate",
                        json={"comment": "go live", "hash": "sha256:" + "1" * 64},
                        headers=keys["pricing_approver"])
    assert wrong.status_code == 412


def test_case_4_every_state_change_bumps_the_revision(client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    version = approved(client, keys, document())
    etag = client.get(f"{BASE}/versions/{version}", headers=keys["admin"]).headers["ETag"]
    assert etag == f'"default-{version}-r3"'  # created r1, submitted r2, approved r3


def test_case_4_a_version_number_collision_is_a_409(app, client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    session = db.session_for(app)

    @sqlalchemy.event.listens_for(session, "before_flush", once=True)
    def someone_else_takes_version_2(*args: object) -> None:
        with db.session_for(app) as other, other.begin():
            lifecycle.create_draft(other, ANALYST, "default", document())

    from valuation.errors import Conflict
    with pytest.raises(Conflict):
        lifecycle.create_draft(session, ANALYST, "default", document())
    session.rollback()
    session.close()


def test_case_4_at_most_one_open_experiment_per_strategy(app) -> None:
    with db.session_for(app) as session:
        for _ in range(2):
            session.add(ExperimentRecord(name="default", challenger_version=2, share_pct=10,
                                         mode="shadow", salt="s", actor="x"))
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            session.flush()
        session.rollback()


# case 5: only a fresh, same-day, same-currency valuation of the served model backs a decision

def stored_valuation(client, keys) -> str:
    return client.post("/v1/valuations", json=CAR, headers=keys["underwriter"]).json["id"]


@pytest.mark.parametrize("tamper, message", [
    (lambda r, b: setattr(r, "created_at", r.created_at - dt.timedelta(days=31)),
     "days old"),
    (lambda r, b: b.update(valuation_date=str(dt.date.fromisoformat(b["valuation_date"])
                                              - dt.timedelta(days=10))), "dated"),
    (lambda r, b: b.update(currency="GBP"), "in GBP"),
    (lambda r, b: setattr(r, "model_name", "another"), "served model"),
])
def test_case_5_a_stale_or_foreign_valuation_is_refused(app, client, keys, tamper,
                                                        message) -> None:
    valuation_id = stored_valuation(client, keys)
    with db.session_for(app) as session, session.begin():
        record = session.get(ValuationRecord, valuation_id)
        body = json.loads(record.response_json)
        tamper(record, body)
        record.response_json = json.dumps(body)
    response = decide(client, keys, application("V-1", vehicle=None, valuation_id=valuation_id))
    assert response.status_code == 422
    assert message in response.json["errors"]["json"]["valuation_id"][0]


def test_case_5_a_back_dated_inline_car_is_refused(client, keys) -> None:
    back = dict(CAR, valuation_date="2024-01-15")
    response = decide(client, keys, application("V-2", vehicle=back))
    assert response.status_code == 422 and "dated 2024-01-15" in response.json["message"]


def test_case_5_csv_and_json_batches_refuse_the_same_future_dates(client, keys) -> None:
    future = str(dt.date.today() + dt.timedelta(days=40))
    rows = [dict(CAR, valuation_date=future), dict(CAR, first_registration=future)]
    as_json = client.post("/v1/valuations/batch", json={"vehicles": rows},
                          headers=keys["dealer"]).json
    header = ",".join(CAR) + ",valuation_date"
    lines = [",".join(str(v) for v in CAR.values()) + f",{future}",
             ",".join(str(v if k != "first_registration" else future) for k, v in CAR.items())
             + ","]
    as_csv = client.post("/v1/valuations/batch", headers=keys["dealer"],
                         data={"file": (io.BytesIO("\n".join([header, *lines]).encode()),
                                        "cars.csv")},
                         content_type="multipart/form-data").json
    assert as_json["failed"] == as_csv["failed"] == 2
    assert as_csv["results"][0]["errors"] == as_json["results"][0]["errors"] == {
        "valuation_date": ["Valuation date is in the future."]}
    assert as_json["results"][1]["errors"] == {
        "first_registration": ["Registration is in the future."]}
    # the CSV row names both of the registration's problems (the JSON body stops at the first)
    assert as_csv["results"][1]["errors"] == {"first_registration": [
        "Registration is in the future.", "Registration is after the valuation date."]}


# case 6: schedules ----------------------------------------------------------------------------

def test_case_6_schedules_can_be_cancelled_are_superseded_and_audited(app, client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    later = approved(client, keys, document(lambda d: d["ltv_max"]["used_ice"]["A"].update(
        T1=0.6)))
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert activate(client, keys, later, effective_at=soon).json["state"] == "scheduled"
    cancel = client.post(f"{BASE}/versions/{later}/cancel-schedule", json={"comment": "wait"},
                         headers=keys["pricing_approver"])
    assert cancel.status_code == 200 and cancel.json["state"] == "approved"
    assert activate(client, keys, later, effective_at=soon).json["state"] == "scheduled"
    emergency = approved(client, keys, document(lambda d: d["ltv_max"]["used_ice"]["A"].update(
        T1=0.5)))
    assert activate(client, keys, emergency).json["state"] == "active"
    with db.session_for(app) as session, session.begin():  # a day later: nothing replaces it
        activation.promote_due(session, "default", dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
        assert activation.active(session, "default").version == emergency
    actions = [(e["version"], e["action"]) for e in
               client.get(f"{BASE}/audit", headers=keys["admin"]).json["entries"]]
    assert (later, "unschedule") in actions and actions.count((later, "schedule")) == 2
    assert actions[-1] == (emergency, "activate")
    # a schedule that fires is audited as the system's activation
    assert activate(client, keys, later, effective_at=soon).json["state"] == "scheduled"
    with db.session_for(app) as session, session.begin():
        activation.promote_due(session, "default", dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    log = client.get(f"{BASE}/audit", headers=keys["admin"]).json["entries"]
    assert (log[-1]["version"], log[-1]["action"], log[-1]["actor"]) == (later, "activate",
                                                                         "system")


# case 9: renamed tiers ------------------------------------------------------------------------

def _renamed(with_map: bool):
    def edit(d: dict) -> None:
        d["dealer_tiers"] = {"order": ["G1", "G2", "G3"]}
        if with_map:
            d["dealer_tiers"]["renamed"] = {"T1": "G1", "T2": "G2", "T3": "G3"}
        for grid in ("price_tolerance", "ltv_max"):
            for cells in d[grid].values():
                for ct in cells:
                    cells[ct] = {f"G{k[1]}": v for k, v in cells[ct].items()}
    return edit


def test_case_9_renaming_tiers_needs_a_map_and_then_keeps_working(client, keys) -> None:
    client.put("/v1/dealers/D5", json={"name": "five", "tier": "T2"}, headers=keys["admin"])
    assert decide(client, keys, application("R-0", dealer={"id": "D5"})).status_code == 201
    bare = approved(client, keys, document(_renamed(False)))
    refused = activate(client, keys, bare)
    assert refused.status_code == 409 and "T2" in refused.json["message"]
    sim = client.post(f"{BASE}/simulations", json={"candidate_version": bare},
                      headers=keys["pricing_analyst"])
    assert sim.status_code == 422 and "dealer.tier" in sim.json["errors"]["json"]
    mapped = approved(client, keys, document(_renamed(True)))
    sim = client.post(f"{BASE}/simulations", json={"candidate_version": mapped},
                      headers=keys["pricing_analyst"])
    assert sim.status_code == 201
    assert activate(client, keys, mapped).status_code == 200
    d = decide(client, keys, application("R-1", dealer={"id": "D5"})).json
    assert d["dealer_tier"] == "G2"


# case 10: simulation CSV booleans and risk columns -----------------------------------------

CSV_HEAD = ("application_id,declared_price,down_payment,term_months,annual_rate,is_new,"
            "energy_type,usage,first_registration,mileage_km,flood_damage,fire_damage,"
            "monthly_income,decision_date,customer_tier,dealer_tier,valuation,confidence_level")


def simulate_csv(client, keys, text: str):
    return client.post(f"{BASE}/simulations", headers=keys["pricing_analyst"],
                       data={"candidate_version": "1",
                             "file": (io.BytesIO(text.encode()), "apps.csv")},
                       content_type="multipart/form-data")


def test_case_10_csv_booleans_are_parsed_not_truthy(client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    rows = [f"B{i},100000,30000,36,0,{new},petrol,private,2020-01-01,50000,{flood},{fire},"
            "20000,2025-01-01,A,T1,100000,high"
            for i, (new, flood, fire) in enumerate([("no", "no", "False"), ("False", "0", "n")])]
    report = simulate_csv(client, keys, "\n".join([CSV_HEAD, *rows]))
    assert report.status_code == 201, report.json
    # neither row is flood or fire damaged: both approved at 70,000 (used ICE A/T1)
    assert report.json["baseline"]["approve"] == 2
    assert report.json["baseline"]["total_final_limit"] == 140_000


@pytest.mark.parametrize("text, column", [
    (CSV_HEAD + "\nB1,100000,0,36,0,False,petrol,private,2020-01-01,50000,maybe,False,20000,"
                "2025-01-01,A,T1,100000,high", "flood_damage"),
    (CSV_HEAD.replace(",fire_damage", "") + "\nB1,100000,0,36,0,False,petrol,private,2020-01-01,"
                                            "50000,False,20000,2025-01-01,A,T1,100000,high",
     "fire_damage"),
    (CSV_HEAD.replace(",confidence_level", "") + "\nB1,100000,0,36,0,False,petrol,private,"
                                                 "2020-01-01,50000,False,False,20000,2025-01-01,"
                                                 "A,T1,100000", "confidence_level"),
])
def test_case_10_unknown_tokens_and_missing_risk_columns_are_refused(client, keys, text,
                                                                     column) -> None:
    client.get(BASE, headers=keys["admin"])
    response = simulate_csv(client, keys, text)
    assert response.status_code == 422 and column in response.json["message"]


# case 11: experiments -------------------------------------------------------------------------

def test_case_11_buckets_follow_the_customer_not_the_application(client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    looser = approved(client, keys, document(lambda d: d["ltv_max"]["used_ice"]["A"].update(
        T1=0.6)))
    assert start_experiment(client, keys, looser, "live").status_code == 200
    customer = subject_in("champion")
    arms = {decide(client, keys, application(f"RESEND-{i}", customer)).json["strategy"]["arm"]
            for i in range(8)}
    assert arms == {"champion"}  # new application ids never move the customer to another arm


def test_case_11_activation_ends_the_experiment_and_only_default_activates(client, keys) -> None:
    client.get(BASE, headers=keys["admin"])
    challenger = approved(client, keys, document(lambda d: d["ltv_max"]["used_ice"]["A"].update(
        T1=0.6)))
    assert start_experiment(client, keys, challenger, "live").status_code == 200
    assert activate(client, keys, challenger).status_code == 200
    listing = client.get("/v1/strategies", headers=keys["admin"]).json["strategies"]
    assert listing[0]["experiment"] is None  # v2 against v2 never runs
    assert start_experiment(client, keys, challenger, "shadow").status_code == 409  # = champion
    other = approved(client, keys, document(), name="other")
    refused = activate(client, keys, other, name="other")
    assert refused.status_code == 409 and "'default'" in refused.json["message"]


# case 12: the business date and partial registration dates -------------------------------

@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12"])
def test_case_12_the_decision_date_is_the_business_date(tmp_path, model_root, zone) -> None:
    url = f"sqlite:///{tmp_path / 'zone.db'}"
    db.upgrade(url)
    app = create_app(Config(DATABASE_URL=url, MODEL_ROOT=model_root, MODEL_NAME="tiny",
                            INSTANCE_PATH=tmp_path, BUSINESS_TIMEZONE=zone, TESTING=True))
    try:
        from valuation.services import keys as api_keys
        with db.session_for(app) as session, session.begin():
            key = api_keys.create_key(session, "underwriter", "under-one")
        client = app.test_client()
        d = client.post("/v1/credit-limits", json=application("Z-1"),
                        headers={"Authorization": f"Bearer {key}"})
        assert d.status_code == 201, d.json
        with db.session_for(app) as session:
            inputs = json.loads(session.get(CreditDecisionRecord, d.json["id"]).inputs_json)
        expected = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(zone)).date()
        assert inputs["application"]["decision_date"] == str(expected)
        assert d.json["valuation_id"]
    finally:
        from valuation import clock
        clock.set_zone(clock.DEFAULT_ZONE)
        db.dispose(app)


def test_case_12_a_year_only_registration_takes_its_worst_case(client, keys) -> None:
    today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    year = today.year - 7
    earliest_age = 7 * 12 + today.month - 1  # months from 1 January of `year` to today
    term = 121 - earliest_age  # 121 months at term end from 1 January, 115 from 1 July
    car = dict(CAR, first_registration=str(year), mileage_km=90000)
    d = decide(client, keys, application("Y-1", vehicle=car, term_months=term)).json
    assert d["outcome"] == "decline" and d["reasons"][0]["code"] == "DECLINE_VEHICLE_AGE"
    assert d["facts"]["first_registration"] == {"asserted": str(year), "used": f"{year}-01-01"}
    mid = dict(car, first_registration=f"{year}-07-01")
    d = decide(client, keys, application("Y-2", vehicle=mid, term_months=term)).json
    assert "DECLINE_VEHICLE_AGE" not in [r["code"] for r in d["reasons"]]


# an end-to-end replay: a stored decision simulated under its own version reproduces itself ---

def test_a_stored_decision_simulated_under_its_own_version_reproduces_itself(app, client,
                                                                             keys) -> None:
    made = [decide(client, keys, application(f"E2E-{i}", **changes)).json for i, changes in
            enumerate([{}, {"down_payment": 50000}, {"term_months": 12},
                       {"customer": {"score": 610, "monthly_income": 4000, "id": "x"}},
                       {"dealer": {"id": "NEW"}}])]
    with db.session_for(app) as session:
        record = session.scalar(sqlalchemy.select(StrategyVersionRecord))
        apps, ids = simulations.stored_applications(session, None, None)
        frame = decide_frame(apps, strategy_store.strategy_of(record))
    by_id = {d["application_id"]: d for d in made}
    for app_id, row in zip(ids, frame.itertuples(), strict=True):
        stored = by_id[app_id]
        assert (row.outcome, row.final_limit, row.recognized_price) == (
            stored["outcome"], stored["final_limit"], stored["recognized_price"])
        assert row.reasons == "|".join(r["code"] for r in stored["reasons"])
