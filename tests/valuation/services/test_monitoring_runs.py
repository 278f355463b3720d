"""Monitoring runs on a small loan book: mileage carried forward, every stored figure
recomputed by hand from the stored values, alerts raised and cleared between runs."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, update

from strategies.monitoring import default_policy
from valuation.services import demo_loans, loans, monitoring
from valuation.store.tables import (
    LoanRecord,
    LoanRevaluationRecord,
    MonitoringAlertRecord,
    MonitoringAuditRecord,
)

AS_OF = dt.date(2026, 6, 30)


def test_mileage_is_carried_forward_at_the_cars_own_rate_else_the_markets() -> None:
    funded = np.array(["2024-01-01"] * 5, dtype="datetime64[D]")
    # cars funded at 50,000 km on 2024-01-01, valued on 2025-07-01 at 15,000 km a year
    # 1. read 62,000 km on 2025-01-01, 366 days after funding: 12,000 / 366 km a day; 181
    #    days on to 2025-07-01: 62,000 + 12,000 x 181 / 366 = 67,934.43
    # 2. no reading: 50,000 + 15,000 / 365.25 x 547 days
    # 3. a reading on the funding day says nothing about the rate: the market's, from the
    #    reading: 50,500 + 15,000 x 547 / 365.25
    # 4. a reading below the funded mileage (a new odometer): never below the funded 50,000
    # 5. a reading without its date: the market's rate from the reading, since funding
    km = np.array([62_000, np.nan, 50_500, 1_000, 55_000])
    read = np.array(["2025-01-01", "NaT", "2024-01-01", "2024-01-02", "NaT"],
                    dtype="datetime64[D]")
    carried = monitoring.carried_mileage(np.full(5, 50_000.0), funded, km, read,
                                         dt.date(2025, 7, 1), 15_000)
    assert carried.tolist() == pytest.approx([
        67_934.426, 50_000 + 15_000 * 547 / 365.25, 50_500 + 15_000 * 547 / 365.25, 50_000,
        55_000 + 15_000 * 547 / 365.25], abs=0.001)


@pytest.fixture
def book(app, trained, demo_dealers):
    sessions = app.extensions["db_sessions"]
    tape = demo_loans.generate(60, seed=9, as_of=AS_OF)
    report = loans.import_tape(sessions, trained, loans.read_tape(
        tape.to_csv(index=False).encode(), "tape.csv"))
    assert report["failed"] == 0
    return sessions, tape


def run(sessions, trained, as_of=AS_OF, output=None):
    with sessions() as session, session.begin():
        run_id = monitoring.create_run(session, "test", as_of).id
    summary = monitoring.run_pandas(sessions, trained, default_policy(), run_id, output,
                                    chunk_loans=25)
    return run_id, summary


def test_a_run_stores_figures_that_add_up(book, trained, tmp_path) -> None:
    sessions, tape = book
    run_id, summary = run(sessions, trained, output=tmp_path)
    active = tape[(tape.status == "active")]
    assert summary["loans"] == len(active) and summary["failed"] == 0
    with sessions() as session:
        stored = {r.loan_id: r for r in session.scalars(select(LoanRevaluationRecord).where(
            LoanRevaluationRecord.run_id == run_id))}
        loans_by_id = {r.loan_id: r for r in session.scalars(select(LoanRecord))}
    assert set(stored) == set(active.loan_id)
    for loan_id, r in stored.items():
        loan = loans_by_id[loan_id]
        # LTV = balance (fen) / lending value (whole units x 100), in basis points, half up
        assert r.ltv_bps == (2 * loan.balance_fen * 10_000 + r.lending * 100) // (
            2 * r.lending * 100)
        funded_ltv = (2 * loan.principal_fen * 10_000 + loan.funded_lending * 100) // (
            2 * loan.funded_lending * 100)
        assert r.ltv_change_bps == r.ltv_bps - funded_ltv
        assert 0 < r.lending <= r.value
        assert r.grade in (1, 2, 3, 4, 5) and r.action
    assert sum(g["loans"] for g in summary["by_grade"]) == len(active)
    assert sum(g["balance_fen"] for g in summary["by_grade"]) == sum(
        loans_by_id[i].balance_fen for i in stored)
    assert sum(b["loans"] for b in summary["ltv_distribution"]) == len(active)
    parquet = pd.read_parquet(next(tmp_path.glob("monitoring-2026-06-30-*.parquet")))
    assert sorted(parquet.loan_id) == sorted(stored)
    first = parquet.set_index("loan_id").loc[next(iter(stored))]
    assert first.ltv_bps == stored[first.name].ltv_bps and first.grade == stored[first.name].grade


def test_the_changes_since_the_previous_run_are_stored(book, trained) -> None:
    sessions, _ = book
    first_run, _ = run(sessions, trained)
    with sessions() as session, session.begin():  # one loan paid down to half its balance
        paid = session.scalars(select(LoanRecord.loan_id).where(LoanRecord.status == "active")
                               .order_by(LoanRecord.loan_id).offset(30)).first()
        loan = session.get(LoanRecord, paid)
        loan.balance_fen //= 2
        driven = session.scalars(select(LoanRecord.loan_id).where(
            LoanRecord.status == "active").order_by(LoanRecord.loan_id).offset(10)).first()
        loan = session.get(LoanRecord, driven)  # a new reading: 150,000 km more
        loan.odometer_km = json.loads(loan.funded_vehicle_json)["mileage_km"] + 150_000
        loan.odometer_date = AS_OF
    second_run, _ = run(sessions, trained)  # 2 chunks of 25 and one of the rest
    with sessions() as session:
        def stored(run_id):
            return {r.loan_id: r for r in session.scalars(select(LoanRevaluationRecord).where(
                LoanRevaluationRecord.run_id == run_id))}
        before, after = stored(first_run), stored(second_run)
    assert set(before) == set(after) and len(after) > 50
    assert all(r.ltv_change_prev_bps is None and r.value_change_prev_bps is None
               for r in before.values())
    for loan_id, r in after.items():
        old = before[loan_id]
        assert r.ltv_change_prev_bps == r.ltv_bps - old.ltv_bps
        # basis points of the previous value, rounded half to even
        assert r.value_change_prev_bps == round((r.value - old.value) * 10_000 / old.value)
    # far more kilometres, a lower value
    assert after[driven].value < before[driven].value
    assert after[driven].value_change_prev_bps == round(
        (after[driven].value - before[driven].value) * 10_000 / before[driven].value) < 0
    # the same car on the same day: the value holds; half the balance, about half the LTV
    assert after[paid].value_change_prev_bps == 0
    assert after[paid].ltv_change_prev_bps == after[paid].ltv_bps - before[paid].ltv_bps < 0
    assert abs(after[paid].ltv_bps * 2 - before[paid].ltv_bps) <= 2


def test_alerts_are_raised_changed_and_cleared_between_runs(book, trained) -> None:
    sessions, tape = book
    first_run, _ = run(sessions, trained)
    with sessions() as session:
        calm = session.scalars(select(LoanRevaluationRecord.loan_id).where(
            LoanRevaluationRecord.run_id == first_run, LoanRevaluationRecord.grade == 1,
            LoanRevaluationRecord.rules_json == "[]")).first()
        assert calm is not None
        assert session.scalars(select(MonitoringAlertRecord).where(
            MonitoringAlertRecord.loan_id == calm)).first() is None
    # 70 days past due: 50 points -> grade 3, contact
    with sessions() as session, session.begin():
        session.execute(update(LoanRecord).where(LoanRecord.loan_id == calm)
                        .values(days_past_due=70))
    second_run, _ = run(sessions, trained)
    with sessions() as session:
        alert = session.scalars(select(MonitoringAlertRecord).where(
            MonitoringAlertRecord.loan_id == calm)).one()
        assert (alert.state, alert.grade, alert.action, json.loads(alert.rules_json)) == (
            "open", 3, "contact", ["DAYS_PAST_DUE"])
        assert alert.raised_run_id == second_run
    # the tape now reports a flood: grade 5, call the loan (the alert changes, not a new one)
    row = tape.index[tape.loan_id == calm][0]
    flooded = tape.loc[[row]].assign(flood_damage=True, days_past_due=70)
    report = loans.import_tape(sessions, trained, loans.read_tape(
        flooded.to_csv(index=False).encode(), "tape.csv"))
    assert report["updated"] == 1
    third_run, _ = run(sessions, trained)
    with sessions() as session:
        alert = session.scalars(select(MonitoringAlertRecord).where(
            MonitoringAlertRecord.loan_id == calm)).one()
        assert (alert.grade, alert.action) == (5, "call_loan")
        rules = json.loads(alert.rules_json)
        # the flood also costs the car its value: the value and LTV rules may fire with it
        assert rules[0] == "FLOOD_OR_FIRE" and "DAYS_PAST_DUE" in rules
    with sessions() as session, session.begin():
        body = monitoring.acknowledge(session, "risk officer", alert.id, "called the customer")
    assert body["state"] == "acknowledged" and body["rules"][0]["en"].startswith("Flood")
    # flood cleared on a new tape, arrears paid: graded 1, the alert clears
    healthy = tape.loc[[row]].assign(flood_damage=False, days_past_due=0)
    loans.import_tape(sessions, trained, loans.read_tape(
        healthy.to_csv(index=False).encode(), "tape.csv"))
    fourth_run, _ = run(sessions, trained)
    with sessions() as session:
        alert = session.get(MonitoringAlertRecord, alert.id)
        assert (alert.state, alert.cleared_run_id) == ("cleared", fourth_run)
        trail = [(a.action, a.actor) for a in session.scalars(select(MonitoringAuditRecord)
                 .where(MonitoringAuditRecord.alert_id == alert.id)
                 .order_by(MonitoringAuditRecord.id))]
    assert trail == [("raised", "monitor"), ("changed", "monitor"),
                     ("acknowledged", "risk officer"), ("cleared", "monitor")]
    with sessions() as session:
        history = loans.get(session, calm)["revaluations"]
    assert [h["run_id"] for h in history] == [fourth_run, third_run, second_run, first_run]


def test_a_run_dated_before_the_latest_leaves_its_alerts_as_they_are(book, trained) -> None:
    sessions, tape = book

    def alerts() -> list[tuple]:
        with sessions() as session:
            return [(a.id, a.loan_id, a.state, a.grade, a.last_run_id) for a in session.scalars(
                select(MonitoringAlertRecord).order_by(MonitoringAlertRecord.id))]

    def graded_2_or_worse(run_id: str) -> set[str]:
        with sessions() as session:
            return set(session.scalars(select(LoanRevaluationRecord.loan_id).where(
                LoanRevaluationRecord.run_id == run_id, LoanRevaluationRecord.grade >= 2)))

    latest, summary = run(sessions, trained)
    in_alert = graded_2_or_worse(latest)
    assert in_alert and {a[1] for a in alerts()} == in_alert
    assert summary["alerts"] == {"updated": True, "raised": len(in_alert), "changed": 0,
                                 "kept": 0, "cleared": 0}
    before = alerts()
    # a look back half a year: fewer loans were funded then, and the cars were worth more;
    # the alerts stay as the run of 2026-06-30 set them, none raised, changed or cleared
    look_back = AS_OF - dt.timedelta(days=182)
    funded_since = set(tape.loc[pd.to_datetime(tape.funded_at).dt.date > look_back, "loan_id"])
    assert in_alert & funded_since  # loans the look back does not value at all
    back, summary = run(sessions, trained, as_of=look_back)
    assert summary["alerts"] == {"updated": False,
                                 "later_run": {"id": latest, "as_of": "2026-06-30"}}
    assert summary["loans"] == len(tape[(tape.status == "active")]) - len(
        funded_since & set(tape.loc[tape.status == "active", "loan_id"]))
    assert alerts() == before
    # the same date again: every alert kept, now last seen by this run
    again, summary = run(sessions, trained)
    assert summary["alerts"] == {"updated": True, "raised": 0, "changed": 0,
                                 "kept": len(in_alert), "cleared": 0}
    assert alerts() == [(i, loan, state, grade, again) for i, loan, state, grade, _ in before]


def test_two_runs_finishing_at_once_raise_one_alert_per_loan(book, trained, monkeypatch) -> None:
    """Two job workers (JOB_WORKERS > 1, or the command line beside the API) finishing runs
    of the same date at the same moment: the alerts are updated one run after the other, so
    each loan in alert has one open alert, raised by one run and kept by the other."""
    import threading

    sessions, _ = book
    ids = []
    for _ in range(2):
        with sessions() as session, session.begin():
            ids.append(monitoring.create_run(session, "test", AS_OF).id)
    books: dict[str, pd.DataFrame] = {}
    finish = monitoring.finish

    def keep_book(sessions_, run_id, book_, timings, all_in_database=True):  # type: ignore[no-untyped-def]
        books[run_id] = book_  # the valued book; finished below, both at once
        return {}

    monkeypatch.setattr(monitoring, "finish", keep_book)
    for run_id in ids:
        monitoring.run_pandas(sessions, trained, default_policy(), run_id)
    monkeypatch.undo()
    start, summaries = threading.Barrier(2), {}

    def finish_one(run_id: str) -> None:
        start.wait()
        summaries[run_id] = finish(sessions, run_id, books[run_id], {})

    threads = [threading.Thread(target=finish_one, args=(run_id,)) for run_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sessions() as session:
        open_alerts = list(session.scalars(select(MonitoringAlertRecord.loan_id)))
    in_alert = set(books[ids[0]].loc[books[ids[0]]["grade"] >= 2, "loan_id"])
    assert in_alert and sorted(open_alerts) == sorted(in_alert)  # one each
    counts = sorted((s["alerts"]["raised"], s["alerts"]["kept"]) for s in summaries.values())
    assert counts == [(0, len(in_alert)), (len(in_alert), 0)]


def test_a_loan_that_cannot_be_valued_is_reported_and_the_run_goes_on(book, trained) -> None:
    sessions, tape = book
    active = tape[tape.status == "active"]
    broken = active.loan_id.iloc[0]
    with sessions() as session, session.begin():
        record = session.get(LoanRecord, broken)
        car = json.loads(record.vehicle_json)
        car["first_registration"] = "2027-01-01"  # registered after the as-of date
        record.vehicle_json = json.dumps(car)
    run_id, summary = run(sessions, trained)
    assert (summary["loans"], summary["valued"], summary["failed"]) == (
        len(active), len(active) - 1, 1)
    with sessions() as session:
        failed = session.scalars(select(LoanRevaluationRecord).where(
            LoanRevaluationRecord.run_id == run_id,
            LoanRevaluationRecord.loan_id == broken)).one()
        assert failed.grade is None and "registration after valuation date" in failed.error
        body = monitoring.get_run(session, run_id)
    assert (body["state"], body["failed"], body["progress"]) == ("done", 1, 1.0)
    assert sum(g["loans"] for g in summary["by_grade"]) == len(active) - 1


def test_cars_read_in_one_pass_are_valued_as_cars_decoded_one_by_one(book, trained,
                                                                     monkeypatch) -> None:
    sessions, _ = book
    with sessions() as session:
        ids = list(session.execute(select(LoanRecord.loan_id).order_by(LoanRecord.loan_id))
                   .scalars())
        rows = monitoring._loan_rows(session, ids)
    assert len(rows) == 60 and rows["funded_vehicle_json"].isna().all()  # none changed
    decoded = monitoring.decoded_vehicle_frame
    with monkeypatch.context() as patch:  # the one pass, not the fallback
        patch.setattr(monitoring, "decoded_vehicle_frame", lambda texts: pytest.fail("decoded"))
        fast = monitoring.revalue(rows, trained, default_policy(), AS_OF, {"D2"})
    monkeypatch.setattr(monitoring, "vehicle_frame", decoded)
    slow = monitoring.revalue(rows, trained, default_policy(), AS_OF, {"D2"})
    pd.testing.assert_frame_equal(fast, slow)
    assert fast["value"].notna().all() and fast["grade"].between(1, 5).all()


def test_a_car_that_does_not_fit_the_arrow_schema_is_decoded_record_by_record() -> None:
    texts = np.array([json.dumps({"brand": "比亚迪", "mileage_km": 1000, "flood_damage": True}),
                      json.dumps({"brand": "Ford", "mileage_km": 2.5e4,
                                  "flood_damage": "true"})], dtype=object)
    cars = monitoring.vehicle_frame(texts)  # the flag as text: json.loads, one by one
    assert cars["brand"].tolist() == ["比亚迪", "Ford"]
    assert cars["mileage_km"].tolist() == [1000, 25_000]
    assert cars["flood_damage"].tolist() == [True, "true"]
    assert monitoring._flags(cars["flood_damage"]).tolist() == [True, True]
    assert list(cars.columns)[:3] == ["brand", "series", "variant"]  # every canonical field
    one_pass = monitoring.vehicle_frame(texts[:1])
    assert one_pass["flood_damage"].tolist() == [True]
    assert one_pass["mileage_km"].tolist() == [1000.0]


def test_the_loans_export_keeps_its_types_whatever_the_first_chunk_holds(book, tmp_path) -> None:
    from valuation.services.monitoring_spark import export_loans

    sessions, _ = book
    with sessions() as session, session.begin():
        ids = list(session.execute(select(LoanRecord.loan_id).order_by(LoanRecord.loan_id))
                   .scalars())
        session.execute(update(LoanRecord).where(LoanRecord.loan_id.in_(ids[:25])).values(
            odometer_km=None, odometer_date=None, days_past_due=None))
        late = session.get(LoanRecord, ids[-1])  # only a late chunk has a car changed since
        car = json.loads(late.vehicle_json)
        late.vehicle_json = json.dumps({**car, "mileage_km": car["mileage_km"] + 1_000})
    export_loans(sessions, ids, tmp_path / "loans.parquet", chunk_loans=25)
    exported = pd.read_parquet(tmp_path / "loans.parquet")
    assert exported["loan_id"].tolist() == ids
    assert exported["funded_vehicle_json"].notna().tolist() == [False] * 59 + [True]
    assert exported["odometer_km"].isna().sum() >= 25 and exported["days_past_due"].notna().any()
    assert str(exported["principal_fen"].dtype) == "int64"
    export_loans(sessions, [], tmp_path / "none.parquet")  # no active loans: no rows
    assert len(pd.read_parquet(tmp_path / "none.parquet")) == 0
