"""The risk officers' console pages with data: a monitoring run's alerts (filtered, then one
acknowledged through the console, as the API would), and the dealers' channel risk."""
from __future__ import annotations

import datetime as dt
import re

from strategies.monitoring import default_policy
from valuation.services import demo_loans, monitoring


def test_alerts_are_listed_filtered_and_acknowledged(app, client, keys, trained, demo_dealers,
                                                      signed_in, csrf) -> None:
    tape = demo_loans.generate(8, seed=12)
    rows = tape.astype(object).where(tape.notna(), None).to_dict("records")
    rows[0]["days_past_due"], rows[0]["status"] = 90, "active"  # 50 points: an alert
    assert client.post("/v1/loans", json={"loans": rows},
                       headers=keys["underwriter"]).status_code == 200
    sessions = app.extensions["db_sessions"]
    with sessions() as session, session.begin():
        run_id = monitoring.create_run(session, "test", dt.date(2026, 6, 30)).id
    monitoring.run_pandas(sessions, trained, default_policy(), run_id)
    officer = signed_in["underwriter"]
    page = officer.get("/console/alerts?state=open").text
    loan = rows[0]["loan_id"]
    assert loan in page and "DAYS_PAST_DUE" in page
    api = client.get("/v1/monitoring/alerts?state=open&per_page=100",
                     headers=keys["underwriter"]).json
    assert f"{api['total']} alerts." in page  # the same count as the API's
    (mine,) = [a for a in api["alerts"] if a["loan_id"] == loan]
    graded = officer.get(f"/console/alerts?grade={mine['grade']}&state=open").text
    assert loan in graded
    other_grades = [g for g in range(1, 6) if g != mine["grade"]]
    assert loan not in officer.get(f"/console/alerts?grade={other_grades[0]}").text
    # acknowledged through the console: the API sees who and why
    done = officer.post(f"/console/alerts/{mine['id']}/acknowledge",
                        data={"comment": "called the customer", "back": "https://evil.example/",
                              "csrf_token": csrf(officer.get("/console/alerts").text)})
    assert done.status_code == 302 and done.headers["Location"] == "/console/"
    after = client.get("/v1/monitoring/alerts?state=acknowledged&per_page=100",
                       headers=keys["underwriter"]).json
    (acked,) = [a for a in after["alerts"] if a["id"] == mine["id"]]
    assert (acked["acknowledged_by"], acked["comment"]) == ("underwriter-console",
                                                           "called the customer")
    no_comment = officer.post(f"/console/alerts/{mine['id']}/acknowledge",
                              data={"comment": " ", "csrf_token": csrf(
                                  officer.get("/console/alerts").text)})
    assert no_comment.status_code == 422 and "comment is required" in no_comment.text


def test_the_dealer_risk_page_shows_the_api_figures(app, client, keys, demo_dealers,
                                                     signed_in) -> None:
    for i, (dealer, declared) in enumerate((("D1", 100_000), ("D2", 400_000), ("D2", 380_000))):
        application = {
            "application_id": f"R{i}", "customer": {"tier": "A", "monthly_income": 50000,
                                                    "id": f"C{i}"},
            "dealer": {"id": dealer}, "is_new": False,
            "vehicle": {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol",
                        "new_price": 200000, "first_registration": "2022-03-01",
                        "mileage_km": 52000, "usage": "private"},
            "declared_price": declared, "down_payment": 0, "term_months": 36, "annual_rate": "0"}
        assert client.post("/v1/credit-limits", json=application,
                           headers=keys["underwriter"]).status_code == 201
    api = client.get("/v1/dealers/risk", headers=keys["underwriter"]).json
    page = signed_in["admin"].get("/console/dealers").text
    assert f"monitoring policy v{api['policy_version']}" in page
    listed = re.findall(r"<tr><td>(D\d+)</td>", page)
    assert listed == [d["dealer_id"] for d in api["dealers"]]  # the API's order (by score)
    assert sorted(listed) == ["D1", "D2"]
    # D2 declared far above the valuation twice: its inflated share shows as a percent
    d2 = next(d for d in api["dealers"] if d["dealer_id"] == "D2")
    assert d2["inflated_share"] == "1.0000" and "100%" in page.split(">D2<", 1)[1].split("</tr>")[0]
    assert signed_in["pricing_analyst"].get("/console/dealers").status_code == 403


def test_a_run_is_started_followed_and_summarised_in_the_console(app, client, keys, trained,
                                                                 demo_dealers, signed_in,
                                                                 csrf) -> None:
    from decimal import ROUND_HALF_UP, Decimal

    tape = demo_loans.generate(12, seed=14)
    rows = tape.astype(object).where(tape.notna(), None).to_dict("records")
    rows[0]["days_past_due"], rows[0]["status"] = 90, "active"  # 50 points: an alert
    assert client.post("/v1/loans", json={"loans": rows},
                       headers=keys["underwriter"]).status_code == 200
    officer = signed_in["underwriter"]
    assert "No runs yet." in officer.get("/console/runs").text
    token = csrf(officer.get("/console/runs").text)
    bad = officer.post("/console/runs", data={"as_of": "30/06/2026", "csrf_token": token})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
    future = officer.post("/console/runs", data={"as_of": "2999-01-01", "csrf_token": token})
    assert future.status_code == 422 and "as_of lies in the future" in future.text
    started = officer.post("/console/runs", data={"as_of": "2026-06-30", "csrf_token": token})
    assert started.status_code == 302
    run_id = started.headers["Location"].rsplit("/", 1)[1]
    queued = officer.get(started.headers["Location"]).text
    assert "queued" in queued and 'id="progress"' in queued
    monitoring.run_pandas(app.extensions["db_sessions"], trained, default_policy(), run_id)
    page = officer.get(f"/console/runs/{run_id}").text
    api = client.get(f"/v1/monitoring/runs/{run_id}", headers=keys["admin"]).json["summary"]
    active = [r for r in rows if r["status"] == "active"]
    # the balance by hand from the tape: whole yuan, half up
    total = sum(Decimal(str(r["outstanding_balance"])) for r in active)
    whole = f"{total.quantize(Decimal(1), ROUND_HALF_UP):,}"
    assert api["balance_fen"] == int(total * 100) and whole in page
    for row in api["by_grade"]:
        cells = re.search(rf'<tr><td>{row["grade"]}</td><td class="num">([\d,]+)</td>', page)
        assert cells and cells.group(1) == f"{row['loans']:,}"
    assert sum(row["loans"] for row in api["by_grade"]) == len(active)
    assert 'id="chart-ltv"' in page and '"0-50%"' in page
    raised = api["alerts"]["raised"]
    assert raised >= 1 and f"{raised} raised, 0 kept, 0 cleared" in page
    download = officer.get(f"/console/runs/{run_id}/results.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert download.text.splitlines()[0].startswith("loan_id,dealer_id,balance,value,lending")
    assert len(download.text.splitlines()) == 1 + len(active)
    assert f'/console/runs/{run_id}/results.csv"' in page
    listing = officer.get("/console/runs").text
    assert f'/console/runs/{run_id}">2026-06-30</a>' in listing and "done" in listing
    assert signed_in["pricing_analyst"].get("/console/runs").status_code == 403


def test_a_loan_is_shown_with_its_revaluation_history(app, client, keys, trained, demo_dealers,
                                                      signed_in) -> None:
    tape = demo_loans.generate(6, seed=15)
    rows = tape.astype(object).where(tape.notna(), None).to_dict("records")
    rows[0].update(status="active", days_past_due=90, principal="123456.78",
                   outstanding_balance="100000.05")
    assert client.post("/v1/loans", json={"loans": rows},
                       headers=keys["underwriter"]).status_code == 200
    sessions = app.extensions["db_sessions"]
    loan = rows[0]["loan_id"]
    officer = signed_in["admin"]
    fresh = officer.get(f"/console/loans/{loan}").text
    assert "Not revalued yet." in fresh and "123,456.78" in fresh and "100,000.05" in fresh
    assert "90 days past due" in fresh
    runs = []
    for day in (dt.date(2026, 3, 31), dt.date(2026, 6, 30)):
        with sessions() as session, session.begin():
            runs.append(monitoring.create_run(session, "test", day).id)
        monitoring.run_pandas(sessions, trained, default_policy(), runs[-1])
    page = officer.get(f"/console/loans/{loan}").text
    history = client.get(f"/v1/loans/{loan}", headers=keys["admin"]).json["revaluations"]
    shown = re.findall(r'/console/runs/([0-9a-f-]+)">(\d{4}-\d\d-\d\d)</a>', page)
    assert shown == [(runs[1], "2026-06-30"), (runs[0], "2026-03-31")]  # newest first
    for h in history:  # the API's figures: LTV as a percent, its value in whole yuan
        row = page.split(f'/console/runs/{h["run_id"]}"', 1)[1].split("</tr>")[0]
        assert f"{float(h['ltv']) * 100:.2f}".rstrip("0").rstrip(".") + "%" in row
        assert f"{h['value']:,}" in row and "DAYS_PAST_DUE" in row
    assert 'id="chart-ltv-history"' in page
    alerts = officer.get("/console/alerts?state=open").text
    assert f'href="/console/loans/{loan}"' in alerts
    assert officer.get("/console/loans?q=" + loan).headers["Location"] == f"/console/loans/{loan}"
    assert officer.get("/console/loans/nobody").status_code == 404
    assert signed_in["pricing_approver"].get(f"/console/loans/{loan}").status_code == 403
