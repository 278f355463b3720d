"""Valuation jobs: a large CSV becomes a job (202), a worker values it in chunks, the results
come back as CSV; a worker killed mid-job loses and duplicates nothing."""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import func, select, update

from valuation.config import CHECKOUT
from valuation.services import valuation_jobs
from valuation.store.tables import ValuationJobRecord, ValuationJobRowRecord, ValuationRecord


@pytest.fixture
def upload(market):
    """A CSV of 12 demo cars, rows 3 and 7 broken (a mileage no car drives, no brand)."""
    cars = market.drop(columns=["price"]).head(12).copy()
    cars["mileage_km"] = cars["mileage_km"].astype(object)
    cars.loc[3, "mileage_km"] = "-5"
    cars.loc[7, "brand"] = ""
    return cars.to_csv(index=False).encode()


def post_csv(client, headers, data: bytes):
    return client.post("/v1/valuations/batch", headers=headers,
                       data={"file": (io.BytesIO(data), "cars.csv")},
                       content_type="multipart/form-data")


def work_once(app, chunk_rows: int = 5) -> int:
    return valuation_jobs.work(app.extensions["db_sessions"], app.extensions["predictor"],
                               "test-worker", threading.Event(), once=True,
                               chunk_rows=chunk_rows)


def test_a_large_csv_becomes_a_job_and_its_results_match_the_direct_batch(app, client, keys,
                                                                        upload) -> None:
    app.config["BATCH_JOB_ROWS"] = 10
    accepted = post_csv(client, keys["dealer"], upload)
    assert accepted.status_code == 202, accepted.json
    job = accepted.json
    assert accepted.headers["Location"] == f"/v1/valuation-jobs/{job['id']}"
    assert (job["state"], job["rows"], job["done"], job["progress"]) == ("queued", 12, 0, 0.0)
    early = client.get(f"/v1/valuation-jobs/{job['id']}/results", headers=keys["dealer"])
    assert early.status_code == 409 and "0 of 12 rows" in early.json["message"]
    assert client.get(f"/v1/valuation-jobs/{job['id']}", headers=keys["dealer2"]
                      ).status_code == 404  # another dealer's job does not exist for it

    assert work_once(app) == 1
    status = client.get(f"/v1/valuation-jobs/{job['id']}", headers=keys["dealer"]).json
    assert (status["state"], status["done"], status["failed"], status["progress"]) == (
        "done", 12, 2, 1.0)
    assert status["started_at"] and status["finished_at"]
    results = client.get(f"/v1/valuation-jobs/{job['id']}/results", headers=keys["underwriter"])
    assert results.status_code == 200 and results.mimetype == "text/csv"
    lines = list(csv.DictReader(io.StringIO(results.get_data(as_text=True))))
    assert [int(r["row"]) for r in lines] == list(range(12))
    assert [(r["row"], r["error"]) for r in lines if r["error"]] == [
        ("3", "mileage_km: Must be greater than or equal to 0 and less than or equal to 2000000."),
        ("7", "brand: Missing data for required field.")]
    assert all(r["valuation_id"] == "" for r in lines if r["error"])

    app.config["BATCH_JOB_ROWS"] = 100  # the same file, valued in the request
    direct = post_csv(client, keys["dealer"], upload)
    assert direct.status_code == 200
    for line, result in zip(lines, direct.json["results"], strict=True):
        if line["error"]:
            assert "errors" in result
            continue
        value = result["value"]
        assert [int(line[k]) for k in ("retail", "low", "high", "lending")] == [
            value["retail"], value["low"], value["high"], value["lending"]]
        assert line["confidence"] == result["confidence"]["level"]
        stored = client.get(f"/v1/valuations/{line['valuation_id']}", headers=keys["dealer"])
        assert stored.status_code == 200 and stored.json["value"] == value


def test_a_worker_asked_to_stop_hands_the_job_back_and_the_next_resumes(app, client, keys,
                                                                      upload) -> None:
    app.config["BATCH_JOB_ROWS"] = 10
    job_id = post_csv(client, keys["dealer"], upload).json["id"]
    sessions = app.extensions["db_sessions"]
    with sessions() as session:
        assert valuation_jobs.claim(session, "first") == job_id
    with sessions() as session:  # one job, already taken: nothing for a second worker
        assert valuation_jobs.claim(session, "second") is None
    stop = threading.Event()
    done_chunks: list[int] = []

    def after_chunk(done: int, total: int) -> None:
        done_chunks.append(done)
        stop.set()  # SIGTERM arrives during the first chunk

    state = valuation_jobs.run(sessions, app.extensions["predictor"], job_id, "first", stop,
                               chunk_rows=5, progress=after_chunk)
    assert state == "queued" and done_chunks == [5]
    assert work_once(app) == 1  # resumes at row 5
    with sessions() as session:
        job = session.get(ValuationJobRecord, job_id)
        assert (job.state, job.rows_done, job.attempts) == ("done", 12, 2)
        rows = session.scalars(select(ValuationJobRowRecord.row)
                               .where(ValuationJobRowRecord.job_id == job_id)).all()
        assert sorted(rows) == list(range(12))


def test_a_job_whose_worker_keeps_dying_is_failed_with_its_progress(app, client, keys,
                                                                    upload) -> None:
    app.config["BATCH_JOB_ROWS"] = 10
    job_id = post_csv(client, keys["dealer"], upload).json["id"]
    sessions = app.extensions["db_sessions"]
    with sessions() as session, session.begin():  # its fifth worker went silent long ago
        session.execute(update(ValuationJobRecord).where(ValuationJobRecord.id == job_id)
                        .values(state="running", attempts=valuation_jobs.MAX_ATTEMPTS,
                                heartbeat_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
    with sessions() as session:
        assert valuation_jobs.claim(session, "w") is None
    status = client.get(f"/v1/valuation-jobs/{job_id}", headers=keys["dealer"]).json
    assert status["state"] == "failed" and "stopped 5 times" in status["error"]


def test_a_killed_worker_loses_and_duplicates_no_row(app, client, keys, market, model_root,
                                                     database_url, tmp_path) -> None:
    """A real `valuation jobs work` process is killed (SIGKILL) mid-job; another worker takes
    the job over once its heartbeat is stale and finishes it."""
    app.config["BATCH_JOB_ROWS"] = 10
    data = market.drop(columns=["price"]).head(600).to_csv(index=False).encode()
    job_id = post_csv(client, keys["underwriter"], data).json["id"]
    env = {**os.environ, "DATABASE_URL": database_url, "MODEL_ROOT": str(model_root),
           "MODEL_NAME": "tiny", "INSTANCE_PATH": str(tmp_path), "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen([sys.executable, "-m", "valuation.cli", "jobs", "work",
                               "--chunk-rows", "5", "--poll", "0.05"], cwd=CHECKOUT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sessions = app.extensions["db_sessions"]
    try:
        deadline, done = time.monotonic() + 120, 0
        while time.monotonic() < deadline and done < 50:
            with sessions() as session:
                done = session.get(ValuationJobRecord, job_id).rows_done
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    with sessions() as session:
        at_kill = session.get(ValuationJobRecord, job_id)
        assert at_kill.state == "running" and 50 <= at_kill.rows_done < 600, at_kill.rows_done
    time.sleep(1.1)
    ran = valuation_jobs.work(sessions, app.extensions["predictor"], "second", threading.Event(),
                              once=True, stale_seconds=1.0, chunk_rows=100)
    assert ran == 1
    with sessions() as session:
        job = session.get(ValuationJobRecord, job_id)
        assert (job.state, job.rows_done, job.attempts) == ("done", 600, 2)
        rows = session.scalars(select(ValuationJobRowRecord.row)
                               .where(ValuationJobRowRecord.job_id == job_id)).all()
        assert sorted(rows) == list(range(600))  # every row once
        valued = session.scalar(select(func.count()).select_from(ValuationJobRowRecord)
                                .where(ValuationJobRowRecord.job_id == job_id,
                                       ValuationJobRowRecord.valuation_id.is_not(None)))
        stored = session.scalar(select(func.count()).select_from(ValuationRecord))
        assert valued == stored == 600 - job.rows_failed  # no valuation stored twice
