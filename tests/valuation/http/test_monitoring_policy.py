"""The monitoring policy under the strategy lifecycle: the shipped policy is version 1, a
change goes through draft, submit, maker-checker approval and activation, and runs then grade
with it; an invalid policy is refused with its errors; it is never simulated or trialled."""
import copy
import datetime as dt

import pytest
import yaml

from strategies.monitoring import DEFAULT_PATH
from valuation.services import demo_loans, loans, monitoring
from valuation.services import keys as api_keys
from valuation.store import db

POLICY = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
BASE = "/v1/strategies/monitoring"


def step(client, headers, version, action):
    body = {"comment": f"{action} it"}
    if action in ("approve", "activate"):
        body["hash"] = client.get(f"{BASE}/versions/{version}", headers=headers).json["hash"]
    return client.post(f"{BASE}/versions/{version}/{action}", json=body, headers=headers)


@pytest.fixture
def same_person(app) -> tuple[dict, dict]:
    with db.session_for(app) as session, session.begin():
        maker = api_keys.create_key(session, "pricing_analyst", "policy-owner")
        checker = api_keys.create_key(session, "pricing_approver", "policy-owner")
    return ({"Authorization": f"Bearer {maker}"}, {"Authorization": f"Bearer {checker}"})


def test_a_policy_change_needs_another_person_and_then_grades_the_runs(app, client, keys,
                                                                      trained,
                                                                      same_person, demo_dealers
                                                                      ) -> None:
    maker, self_checker = same_person
    strict = copy.deepcopy(POLICY)
    strict["weak"]["days_past_due"][0]["points"] = 20  # one day late: grade 2 (watch)
    created = client.post(f"{BASE}/versions", json=strict, headers=maker)
    assert created.status_code == 201, created.json
    version = created.json["version"]
    assert version == 2  # the shipped policy is version 1
    shipped = client.get(f"{BASE}/versions/1", headers=keys["pricing_analyst"]).json
    assert shipped["state"] == "active" and shipped["author"] == "system"
    diff = client.get(f"{BASE}/diff?from=1&to={version}", headers=keys["pricing_analyst"]).json
    assert "weak" in str(diff)
    assert step(client, maker, version, "submit").status_code == 200
    own = step(client, self_checker, version, "approve")
    assert own.status_code == 403 and "maker-checker" in own.json["message"]
    assert step(client, keys["pricing_approver"], version, "approve").status_code == 200
    assert step(client, keys["pricing_approver"], version, "activate").status_code == 200

    sessions = app.extensions["db_sessions"]
    tape = demo_loans.generate(10, seed=5).assign(status="active", days_past_due=0)
    tape.loc[0, "days_past_due"] = 3
    loans.import_tape(sessions, trained, loans.read_tape(tape.to_csv(index=False).encode(),
                                                         "tape.csv"))
    with sessions() as session, session.begin():
        run_id = monitoring.create_run(session, "test", dt.date(2026, 6, 30)).id
    summary = monitoring.run_active(sessions, trained, run_id)
    assert summary["policy_version"] == version
    run = client.get(f"/v1/monitoring/runs/{run_id}", headers=keys["underwriter"]).json
    assert run["policy_hash"] == client.get(f"{BASE}/versions/{version}",
                                            headers=keys["pricing_analyst"]).json["hash"]
    loan = client.get(f"/v1/loans/{tape.loan_id[0]}", headers=keys["underwriter"]).json
    latest = loan["revaluations"][0]
    assert "DAYS_PAST_DUE" in latest["rules"] and latest["grade"] >= 2


def test_an_invalid_policy_is_refused_and_it_is_not_simulated(client, keys) -> None:
    bad = copy.deepcopy(POLICY)
    bad["actions"]["5"] = "watch"  # a worse grade asking for a milder action
    refused = client.post(f"{BASE}/versions", json=bad, headers=keys["pricing_analyst"])
    assert refused.status_code == 422 and "actions" in refused.json["errors"]["json"]
    credit_doc = client.post(f"{BASE}/versions", json={**POLICY, "kind": "credit"},
                             headers=keys["pricing_analyst"])
    assert credit_doc.status_code == 422
    simulated = client.post(f"{BASE}/simulations", json={"candidate_version": 1},
                            headers=keys["pricing_analyst"])
    assert simulated.status_code == 409 and "monitoring policy" in simulated.json["message"]
    trial = client.put(f"{BASE}/experiment", headers=keys["pricing_approver"], json={
        "challenger_version": 1, "share_pct": 10, "mode": "shadow", "salt": "s"})
    assert trial.status_code == 409
