"""The loan book and monitoring over HTTP: import, read, an asynchronous run, alerts."""
from __future__ import annotations

import io

from strategies.monitoring import default_policy
from valuation.services import demo_loans, monitoring


def loans_json(n: int) -> list[dict]:
    tape = demo_loans.generate(n, seed=12)
    tape = tape.astype(object).where(tape.notna(), None)
    return tape.to_dict("records")


def test_loans_runs_and_alerts(app, client, keys, trained, demo_dealers) -> None:
    rows = loans_json(8)
    rows[0]["days_past_due"] = 90  # 50 points: grade 3 at least, an alert
    rows[0]["status"] = rows[2]["status"] = "active"
    rows[1]["outstanding_balance"] = "-1"
    imported = client.post("/v1/loans", json={"loans": rows}, headers=keys["underwriter"])
    assert imported.status_code == 200, imported.json
    assert (imported.json["inserted"], imported.json["failed"]) == (7, 1)
    assert imported.json["errors"] == [{"row": 2, "field": "outstanding_balance",
                                        "message": "cannot be negative"}]
    loan = client.get(f"/v1/loans/{rows[0]['loan_id']}", headers=keys["admin"])
    assert loan.status_code == 200
    assert loan.json["principal"] == rows[0]["principal"] and loan.json["revaluations"] == []
    assert client.get("/v1/loans/nope", headers=keys["admin"]).status_code == 404
    assert client.post("/v1/loans", json={"loans": [{"loan_id": "x"}]},
                       headers=keys["admin"]).status_code == 422  # fields missing
    csv = io.BytesIO(demo_loans.generate(3, seed=13).to_csv(index=False).encode())
    uploaded = client.post("/v1/loans", headers=keys["admin"], content_type="multipart/form-data",
                           data={"file": (csv, "tape.csv")})
    assert uploaded.status_code == 200 and uploaded.json["inserted"] == 3

    future = client.post("/v1/monitoring/runs", json={"as_of": "2999-01-01"},
                         headers=keys["underwriter"])
    assert future.status_code == 422
    queued = client.post("/v1/monitoring/runs", json={"as_of": "2026-06-30"},
                         headers=keys["underwriter"])
    assert queued.status_code == 202 and queued.json["state"] == "queued"
    assert queued.headers["Location"] == f"/v1/monitoring/runs/{queued.json['id']}"
    sessions = app.extensions["db_sessions"]
    with sessions() as session:  # what `valuation jobs work` does with a queued run
        run_id = monitoring.claim_run(session, "test-worker")
    assert run_id == queued.json["id"]
    monitoring.run_pandas(sessions, trained, default_policy(), run_id)
    done = client.get(f"/v1/monitoring/runs/{run_id}", headers=keys["admin"]).json
    assert done["state"] == "done" and done["progress"] == 1.0
    assert done["summary"]["loans"] == done["loans"] == done["done"] >= 2
    alerts = client.get("/v1/monitoring/alerts?state=open&per_page=100",
                        headers=keys["underwriter"]).json
    mine = [a for a in alerts["alerts"] if a["loan_id"] == rows[0]["loan_id"]]
    assert len(mine) == 1 and mine[0]["grade"] >= 3
    assert any(r["code"] == "DAYS_PAST_DUE" for r in mine[0]["rules"])
    ack = client.post(f"/v1/monitoring/alerts/{mine[0]['id']}/acknowledge",
                      json={"comment": "called"}, headers=keys["underwriter"])
    assert ack.status_code == 200 and ack.json["state"] == "acknowledged"
    assert alerts["total"] == len(alerts["alerts"])
    assert client.post("/v1/monitoring/alerts/999999/acknowledge", json={"comment": "x"},
                       headers=keys["admin"]).status_code == 404
    history = client.get(f"/v1/loans/{rows[2]['loan_id']}", headers=keys["admin"]).json
    assert [h["run_id"] for h in history["revaluations"]] == [run_id]


def test_runs_are_listed_newest_first_without_their_summaries(app, client, keys, trained,
                                                              demo_dealers) -> None:
    client.post("/v1/loans", json={"loans": loans_json(4)}, headers=keys["underwriter"])
    ids = [client.post("/v1/monitoring/runs", json={"as_of": day},
                       headers=keys["underwriter"]).json["id"]
           for day in ("2026-03-31", "2026-06-30", "2026-05-31")]
    sessions = app.extensions["db_sessions"]
    monitoring.run_pandas(sessions, trained, default_policy(), ids[0])
    listed = client.get("/v1/monitoring/runs", headers=keys["admin"])
    assert listed.status_code == 200
    assert (listed.json["total"], listed.json["page"], listed.json["per_page"]) == (3, 1, 50)
    # created one after another: the newest first, whatever their as-of dates
    assert [r["id"] for r in listed.json["runs"]] == ids[::-1]
    assert [r["as_of"] for r in listed.json["runs"]] == ["2026-05-31", "2026-06-30",
                                                         "2026-03-31"]
    assert all("summary" not in r for r in listed.json["runs"])
    done = client.get("/v1/monitoring/runs?state=done", headers=keys["underwriter"]).json
    assert [(r["id"], r["state"]) for r in done["runs"]] == [(ids[0], "done")]
    second = client.get("/v1/monitoring/runs?per_page=2&page=2", headers=keys["admin"]).json
    assert [r["id"] for r in second["runs"]] == [ids[0]] and second["total"] == 3
    assert client.get("/v1/monitoring/runs?state=lost",
                      headers=keys["admin"]).status_code == 422
    assert client.get("/v1/monitoring/runs", headers=keys["dealer"]).status_code == 403
    assert client.get("/v1/monitoring/runs").status_code == 401


def test_a_runs_loans_download_as_csv(app, client, keys, trained, demo_dealers) -> None:
    import csv as csv_module
    from decimal import Decimal

    rows = loans_json(6)
    rows[0].update(status="active", days_past_due=90, outstanding_balance="12345.67")
    client.post("/v1/loans", json={"loans": rows}, headers=keys["underwriter"])
    queued = client.post("/v1/monitoring/runs", json={"as_of": "2026-06-30"},
                         headers=keys["underwriter"]).json["id"]
    early = client.get(f"/v1/monitoring/runs/{queued}/results", headers=keys["admin"])
    assert early.status_code == 409 and "queued" in early.json["message"]
    assert client.get("/v1/monitoring/runs/nope/results",
                      headers=keys["admin"]).status_code == 404
    monitoring.run_pandas(app.extensions["db_sessions"], trained, default_policy(), queued)
    got = client.get(f"/v1/monitoring/runs/{queued}/results", headers=keys["underwriter"])
    assert got.status_code == 200 and got.mimetype == "text/csv"
    assert got.headers["Content-Disposition"] == (
        f'attachment; filename="monitoring-run-{queued}.csv"')
    table = list(csv_module.DictReader(io.StringIO(got.text)))
    active = sorted(r["loan_id"] for r in rows if r["status"] == "active")
    assert [t["loan_id"] for t in table] == active  # by loan id, every active loan
    late = next(t for t in table if t["loan_id"] == rows[0]["loan_id"])
    assert late["balance"] == "12345.67" and "DAYS_PAST_DUE" in late["rules"].split(" ")
    for t in table:  # the API's figures for each loan, and the LTV by hand
        (history,) = client.get(f"/v1/loans/{t['loan_id']}",
                                headers=keys["admin"]).json["revaluations"]
        assert (int(t["value"]), int(t["lending"]), t["ltv"], int(t["grade"]), t["action"]) == (
            history["value"], history["lending"], history["ltv"], history["grade"],
            history["action"])
        by_hand = Decimal(t["balance"]) / Decimal(t["lending"])
        assert abs(Decimal(t["ltv"]) - by_hand) <= Decimal("0.00005")
    assert client.get(f"/v1/monitoring/runs/{queued}/results",
                      headers=keys["dealer"]).status_code == 403
