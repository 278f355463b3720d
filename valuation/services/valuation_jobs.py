"""Valuation jobs: a large CSV batch is stored as a job and valued in the background by
`valuation jobs work`, in chunks. Each chunk commits its valuations, its result rows and the
job's progress in one transaction, so a worker that dies loses at most the chunk it was on; a
job whose worker stopped renewing its heartbeat is claimed again and resumes after its last
committed row. The result rows' primary key (job, row) makes a duplicate impossible.

Why a worker command that claims jobs from the database, not a queue library: the service
already has its database (SQLite or PostgreSQL) and nothing else; a job is a row, the claim is
one conditional UPDATE (portable to both), and progress, restart and results live where the
valuations do. Celery or RQ would add Redis as a requirement of `make run`.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from ..errors import InvalidInput, NotFound
from ..model.predictor import Predictor
from ..store.tables import ValuationJobRecord, ValuationJobRowRecord, core, iso, utcnow
from . import csv_text, valuations
from .keys import Principal

log = logging.getLogger(__name__)

CHUNK_ROWS = 1_000
STALE_SECONDS = 60.0
MAX_ATTEMPTS = 5
RESULT_COLUMNS = ("row", "valuation_id", "vin", "external_ref", "retail", "low", "high",
                  "lending", "confidence", "error")
_JOBS, _ROWS = core(ValuationJobRecord), core(ValuationJobRowRecord)


def read_csv(data: bytes) -> pd.DataFrame:
    """An uploaded CSV as text columns (422 when it is not one, or has too many rows)."""
    try:
        frame = csv_text.text_frame(data)
    except ValueError as exc:  # not text, or not CSV (pandas' ParserError is a ValueError)
        raise InvalidInput(f"unreadable CSV: {exc}", errors={"files": {"file": [
            "not a CSV file"]}}) from exc
    if len(frame) > valuations.MAX_CSV_BATCH:
        raise InvalidInput(f"{len(frame):,} rows: at most {valuations.MAX_CSV_BATCH:,}",
                           errors={"files": {"file": ["too many rows"]}})
    return frame


def submit(session: Session, principal: Principal, data: bytes, rows: int) -> dict[str, Any]:
    """Store a job for an uploaded CSV of `rows` rows; the caller commits. Returns its status."""
    record = ValuationJobRecord(
        id=str(uuid.uuid4()), created_at=utcnow(), actor=principal.name,
        key_prefix=principal.prefix, dealer_id=principal.dealer_id, state="queued",
        rows_total=rows, rows_done=0, rows_failed=0, attempts=0,
        input_csv=csv_text.decode(data))
    session.add(record)
    return status_of(record)


def _visible(session: Session, principal: Principal, job_id: str) -> ValuationJobRecord:
    job = session.get(ValuationJobRecord, job_id)
    if job is None or (principal.role == "dealer" and job.dealer_id != principal.dealer_id):
        raise NotFound(f"no valuation job {job_id}")
    return job


def status_of(job: ValuationJobRecord) -> dict[str, Any]:
    return {"id": job.id, "state": job.state, "rows": job.rows_total, "done": job.rows_done,
            "failed": job.rows_failed,
            "progress": round(job.rows_done / job.rows_total, 4) if job.rows_total else 1.0,
            "created_at": iso(job.created_at), "started_at": iso(job.started_at),
            "finished_at": iso(job.finished_at), "error": job.error}


def status(session: Session, principal: Principal, job_id: str) -> dict[str, Any]:
    """A job's state and progress (a dealer sees only its own jobs)."""
    return status_of(_visible(session, principal, job_id))


def results_csv(session: Session, principal: Principal, job_id: str) -> Iterator[str]:
    """The job's result rows as CSV text, in row order, streamed in pieces (every row that is
    committed so far: all of them once the job is done)."""
    _visible(session, principal, job_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RESULT_COLUMNS)
    query = (select(*(_ROWS.c[c] for c in RESULT_COLUMNS)).where(_ROWS.c.job_id == job_id)
             .order_by(_ROWS.c.row).execution_options(yield_per=5_000))
    for n, row in enumerate(session.execute(query), 1):
        writer.writerow(row)
        if n % 5_000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def claim(session: Session, worker: str, stale_seconds: float = STALE_SECONDS) -> str | None:
    """Take the oldest queued job, or a running one whose worker went silent; None when there
    is none. One conditional UPDATE decides between racing workers (the loser changes no row).
    A job claimed MAX_ATTEMPTS times already is marked failed instead."""
    now = utcnow()
    stale = now - dt.timedelta(seconds=stale_seconds)
    claimable = (_JOBS.c.state == "queued") | ((_JOBS.c.state == "running") & (
        (_JOBS.c.heartbeat_at < stale) | _JOBS.c.heartbeat_at.is_(None)))
    with session.begin():
        candidate = session.execute(select(_JOBS.c.id, _JOBS.c.attempts).where(claimable)
                                    .order_by(_JOBS.c.created_at).limit(1)).first()
        if candidate is None:
            return None
        if candidate.attempts >= MAX_ATTEMPTS:
            session.execute(update(_JOBS).where(_JOBS.c.id == candidate.id).where(claimable)
                            .values(state="failed", finished_at=now, error=(
                                f"its worker stopped {candidate.attempts} times; the rows "
                                "counted in `done` are stored")))
            return None
        taken = session.execute(
            update(_JOBS).where(_JOBS.c.id == candidate.id).where(claimable).values(
                state="running", worker=worker, heartbeat_at=now, attempts=_JOBS.c.attempts + 1,
                started_at=func.coalesce(_JOBS.c.started_at, now)))
        return candidate.id if _changed(taken) == 1 else None


def _changed(result: Any) -> int:
    """Rows an UPDATE changed (a CursorResult's rowcount)."""
    return int(result.rowcount)


def run(sessions: Callable[[], Session], predictor: Predictor | None, job_id: str, worker: str,
        stop: threading.Event, chunk_rows: int = CHUNK_ROWS,
        progress: Callable[[int, int], None] = lambda done, total: None) -> str:
    """Value a claimed job from its first uncommitted row, chunk by chunk; returns the job's
    state afterwards ("done", "failed", "queued" when stopped, "lost" when another worker took
    it over)."""
    with sessions() as session:
        job = session.get(ValuationJobRecord, job_id)
        assert job is not None
        principal = Principal(name=job.actor, role="job", prefix=job.key_prefix,
                              dealer_id=job.dealer_id)
        start, total, text = job.rows_done, job.rows_total, job.input_csv
    try:
        frame = read_csv(text.encode("utf-8"))
        all_rows, row_errors = valuations.rows_of_csv(frame)
        for first in range(start, total, chunk_rows):
            if stop.is_set():
                return _release(sessions, job_id, worker)
            last = min(first + chunk_rows, total)
            rows = all_rows[first:last]
            errors = {i - first: e for i, e in row_errors.items() if first <= i < last}
            results, stored = valuations.value_batch(predictor, principal, rows, errors)
            if not _commit_chunk(sessions, job_id, worker, first, results, stored):
                return "lost"
            progress(last, total)
    except Exception as exc:  # noqa: BLE001 - any failure ends the job as failed, with its progress
        log.exception("valuation job %s failed", job_id)
        _finish(sessions, job_id, worker, "failed", f"{type(exc).__name__}: {exc}"[:500])
        return "failed"
    _finish(sessions, job_id, worker, "done", None)
    return "done"


def _commit_chunk(sessions: Callable[[], Session], job_id: str, worker: str, first: int,
                  results: list[dict[str, Any]], stored: list[dict[str, Any]]) -> bool:
    """One transaction: the job's progress (only while this worker holds it), the valuations
    and the result rows. False when the job is no longer this worker's."""
    failed = sum(1 for r in results if "errors" in r)
    rows = [_result_row(job_id, first + r["row"], r) for r in results]
    with sessions() as session, session.begin():
        held = session.execute(
            update(_JOBS).where(_JOBS.c.id == job_id, _JOBS.c.worker == worker,
                                _JOBS.c.state == "running", _JOBS.c.rows_done == first)
            .values(rows_done=first + len(results),
                    rows_failed=_JOBS.c.rows_failed + failed, heartbeat_at=utcnow()))
        if _changed(held) != 1:
            return False
        valuations.store(session, stored)
        session.connection().execute(insert(_ROWS), rows)
    return True


def _result_row(job_id: str, row: int, result: dict[str, Any]) -> dict[str, Any]:
    if "errors" in result:
        return {"job_id": job_id, "row": row, "valuation_id": None, "vin": None,
                "external_ref": None, "retail": None, "low": None, "high": None,
                "lending": None, "confidence": None, "error": _message(result["errors"])}
    value = result["value"]
    return {"job_id": job_id, "row": row, "valuation_id": result["id"], "vin": result["vin"],
            "external_ref": result["external_ref"], "retail": value["retail"],
            "low": value["low"], "high": value["high"], "lending": value["lending"],
            "confidence": result["confidence"]["level"], "error": None}


def _message(errors: Any) -> str:
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {_message(v)}" if k != "_schema" else _message(v)
                         for k, v in errors.items())
    if isinstance(errors, list):
        return "; ".join(_message(e) for e in errors)
    return str(errors)


def _finish(sessions: Callable[[], Session], job_id: str, worker: str, state: str,
            error: str | None) -> None:
    with sessions() as session, session.begin():
        session.execute(update(_JOBS).where(_JOBS.c.id == job_id, _JOBS.c.worker == worker)
                        .values(state=state, error=error, finished_at=utcnow()))


def _release(sessions: Callable[[], Session], job_id: str, worker: str) -> str:
    """A worker asked to stop hands its job back at once (the next worker resumes it)."""
    with sessions() as session, session.begin():
        session.execute(update(_JOBS).where(_JOBS.c.id == job_id, _JOBS.c.worker == worker)
                        .values(state="queued", worker=None, heartbeat_at=None))
    return "queued"


def work(sessions: Callable[[], Session], predictor: Predictor | None, worker: str,
         stop: threading.Event, poll_seconds: float = 1.0, once: bool = False,
         stale_seconds: float = STALE_SECONDS, chunk_rows: int = CHUNK_ROWS,
         progress: Callable[[str, int, int], None] = lambda job, done, total: None,
         other_work: Callable[[], bool] = lambda: False) -> int:
    """Claim and run jobs until `stop` is set (or, with `once`, until none is waiting);
    returns how many jobs it ran. When no valuation job waits, `other_work` may take other
    queued work (a monitoring run); it says whether it found any."""
    ran = 0
    while not stop.is_set():
        with sessions() as session:
            job_id = claim(session, worker, stale_seconds)
        if job_id is None:
            if other_work():
                ran += 1
                continue
            if once:
                break
            stop.wait(poll_seconds)
            continue
        log.info("valuation job %s claimed by %s", job_id, worker)
        def step(done: int, total: int, job: str = job_id) -> None:
            progress(job, done, total)

        state = run(sessions, predictor, job_id, worker, stop, chunk_rows, step)
        log.info("valuation job %s: %s", job_id, state)
        ran += 1
    return ran
