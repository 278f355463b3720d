"""In-loan monitoring (贷中预警): revalue the active loans at an as-of date, grade them with the
monitoring policy, store each loan's result, raise and clear alerts, and summarise the run;
list runs, and stream a finished run's loans as CSV.

`revalue(loans, predictor, policy, as_of)` is the whole per-loan computation on a pandas frame
of loan rows: the pandas engine calls it chunk by chunk, the Spark engine
(`monitoring_spark`) per partition, so both grade with the same code
(`strategies.monitoring.evaluate`). Money is whole
currency units for values and fen for balances; the rules compare them in fen.

Age and mileage are carried forward to the as-of date: from the last odometer reading at the
car's own observed rate since funding, else at the market's median yearly distance.
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
from sqlalchemy import String, bindparam, case, delete, func, insert, select, type_coerce, update
from sqlalchemy.orm import Session

from strategies.facts import vehicle_facts
from strategies.monitoring import RULES, Policy, evaluate

from .. import clock
from ..errors import Conflict, InvalidInput, NotFound
from ..model.predictor import Predictor, collector_paused
from ..model.record import (
    FIELDS,
    MAX_MILEAGE_KM,
    NAMES,
    NEV_ENERGY,
    is_true,
    model_day,
)
from ..store.tables import (
    DealerRecord,
    LoanRecord,
    LoanRevaluationRecord,
    MonitoringAlertRecord,
    MonitoringAuditRecord,
    MonitoringRunRecord,
    core,
    iso,
    utcnow,
)
from . import strategy_store
from .loans import bps_text, money
from .valuations import whole_units_array

log = logging.getLogger(__name__)

ENGINES = ("pandas", "spark")
ALERT_GRADE = 2  # a loan graded this or worse is in alert
CHUNK_LOANS = 20_000
ALERTS_LOCK = 0x6D6F6E69  # PostgreSQL advisory lock key of the alerts' update ("moni")
LTV_BINS = (0, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000)  # basis points
LOAN_COLUMNS = ("loan_id", "dealer_id", "funded_at", "principal_fen", "balance_fen",
                "days_past_due", "odometer_km", "odometer_date", "vehicle_json",
                "funded_vehicle_json", "funded_value", "funded_lending")


def carried_mileage(funded_km: np.ndarray, funded_at: np.ndarray, odometer_km: np.ndarray,
                    odometer_date: np.ndarray, as_of: dt.date, median_km_year: float
                    ) -> np.ndarray:
    """Each car's mileage on `as_of` (arrays: km as floats, NaN when not read; days as
    datetime64[D], NaT when not read): from the last reading at its own rate since funding,
    else from funding at the market's median yearly distance; never below the funded reading."""
    day = np.datetime64(as_of, "D")
    own = ~np.isnan(odometer_km) & (odometer_date > funded_at)  # NaT compares False
    with np.errstate(divide="ignore", invalid="ignore"):
        per_day = np.maximum(odometer_km - funded_km, 0.0) / days_between(odometer_date,
                                                                          funded_at)
        by_own_rate = odometer_km + per_day * np.maximum(days_between(day, odometer_date), 0.0)
    start = np.where(np.isnan(odometer_km), funded_km, odometer_km)
    since_funding = np.maximum(days_between(day, funded_at), 0.0)
    by_market = start + median_km_year / 365.25 * since_funding
    estimate = np.where(own, by_own_rate, by_market)
    return np.minimum(np.maximum(estimate, funded_km), float(MAX_MILEAGE_KM))


def days_between(later: np.ndarray | np.datetime64, earlier: np.ndarray | np.datetime64
                 ) -> np.ndarray:
    """Whole days from `earlier` to `later` (datetime64[D]) as floats; NaN where either is NaT."""
    days = np.asarray(later - earlier, dtype="timedelta64[D]")
    return np.where(np.isnat(days), np.nan, days.astype(np.float64))


# The stored canonical record's fields as the JSON reader types them (whole numbers read as
# floats, dates as their texts); a record that does not fit goes through `json.loads` instead.
_ARROW_KINDS = {"str": pa.string(), "enum": pa.string(), "date": pa.string(),
                "int": pa.float64(), "float": pa.float64(), "bool": pa.bool_()}
VEHICLE_SCHEMA = pa.schema([(f.name, _ARROW_KINDS[f.kind]) for f in FIELDS])


def vehicle_frame(texts: np.ndarray) -> pd.DataFrame:
    """The stored vehicles (canonical records as JSON texts) as one frame, a column per
    canonical field: parsed by Arrow's JSON reader in one pass (about ten times faster than a
    dictionary per loan), else record by record when a text does not fit `VEHICLE_SCHEMA` (a
    flag stored as text, say), which gives the same values to validation."""
    if len(texts) == 0:
        return pd.DataFrame(columns=list(NAMES))
    try:
        table = pa_json.read_json(io.BytesIO("\n".join(texts.tolist()).encode()),
                                  parse_options=pa_json.ParseOptions(
                                      explicit_schema=VEHICLE_SCHEMA,
                                      unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, UnicodeEncodeError):
        return decoded_vehicle_frame(texts)
    if table.num_rows != len(texts):  # a text holding two records, or none
        return decoded_vehicle_frame(texts)
    return table.to_pandas()


def decoded_vehicle_frame(texts: np.ndarray) -> pd.DataFrame:
    """`vehicle_frame` one record at a time (`json.loads`)."""
    return pd.DataFrame([json.loads(text) for text in texts.tolist()]).reindex(
        columns=list(NAMES))


@collector_paused()
def revalue(loans: pd.DataFrame, predictor: Predictor, policy: Policy, as_of: dt.date,
            watch_dealers: set[str]) -> pd.DataFrame:
    """One row per loan (the LOAN_COLUMNS): its value and lending value on `as_of`, segment,
    LTV and changes (basis points), score, grade, action and rule codes; `error` for a loan
    whose car cannot be valued (the others go on). Column by column: nothing here runs once
    per loan in Python but the rule codes' lists."""
    n = len(loans)
    km_year = float(predictor.profile["median_km_per_year"])
    texts_now = loans["vehicle_json"].to_numpy(object)
    texts_funded = loans["funded_vehicle_json"].to_numpy(object)
    cars = vehicle_frame(texts_now)
    funded_km = pd.to_numeric(cars["mileage_km"], errors="coerce").to_numpy(np.float64).copy()
    damaged_now = _flags(cars["flood_damage"]) | _flags(cars["fire_damage"])
    damaged_then = damaged_now.copy()
    # the car's record changed since funding (missing: the same, as `_loan_rows` reads it)
    changed = np.array([i for i, (now, then) in enumerate(zip(
        texts_now.tolist(), texts_funded.tolist(), strict=True))
        if isinstance(then, str) and then != now], dtype=np.int64)
    if changed.size:
        then = vehicle_frame(texts_funded[changed])
        funded_km[changed] = pd.to_numeric(then["mileage_km"], errors="coerce").to_numpy(
            np.float64)
        damaged_then[changed] = _flags(then["flood_damage"]) | _flags(then["fire_damage"])
    cars["mileage_km"] = carried_mileage(
        funded_km, _days(loans["funded_at"]),
        pd.to_numeric(loans["odometer_km"], errors="coerce").to_numpy(np.float64),
        _days(loans["odometer_date"]), as_of, km_year)
    cars["valuation_date"] = str(as_of)
    pred = predictor.predict(cars, today=max(as_of, clock.today()))
    errors = pred["error"].to_numpy(object)
    ok = pd.isna(errors)
    value = _whole_units(pred["value"].to_numpy(np.float64), ok)
    lending = np.minimum(_whole_units(pred["value_low"].to_numpy(np.float64), ok), value)
    registered = _per_distinct(cars["first_registration"], _model_day)
    age_days = days_between(np.datetime64(as_of, "D"), registered.astype("datetime64[D]"))
    inputs = pd.DataFrame({
        "principal": loans["principal_fen"].to_numpy(np.int64),
        "balance": loans["balance_fen"].to_numpy(np.int64),
        "value_now": value * 100, "lending_now": lending * 100,
        "value_funded": loans["funded_value"].to_numpy(np.int64) * 100,
        "lending_funded": loans["funded_lending"].to_numpy(np.int64) * 100,
        "days_past_due": pd.to_numeric(loans["days_past_due"]).fillna(0).to_numpy(np.int64),
        "flood_or_fire_after_funding": damaged_now & ~damaged_then,
        "dealer_watch": loans["dealer_id"].isin(watch_dealers).to_numpy(bool),
        "nev": cars["energy_type"].isin(NEV_ENERGY).to_numpy(bool),
        "battery_soh_pct": pd.to_numeric(cars["battery_soh_pct"], errors="coerce")
        .to_numpy(np.float64),
        "age_years": age_days / 365.25,
        "confidence_level": pred["confidence_level"].to_numpy(object),
    })
    graded = evaluate(inputs, policy)
    usage = [u if isinstance(u, str) and u else None for u in cars["usage"].tolist()]
    segments = [_segment(str(e), u) for e, u in zip(cars["energy_type"].tolist(), usage,
                                                     strict=True)]
    text = {c: pd.Series(v, dtype=object) for c, v in (
        ("loan_id", loans["loan_id"].to_numpy(object)),
        ("dealer_id", loans["dealer_id"].to_numpy(object)), ("segment", segments),
        ("action", graded["action"].to_numpy(object)),
        ("rules", graded["rules"].to_numpy(object)), ("error", errors))}
    out = pd.DataFrame({
        "loan_id": text["loan_id"], "dealer_id": text["dealer_id"], "segment": text["segment"],
        "balance_fen": inputs["balance"].to_numpy(), "value": value, "lending": lending,
        **{c: graded[c].to_numpy() for c in ("ltv_bps", "ltv_funded_bps", "ltv_change_bps",
                                            "value_change_bps", "score", "grade")},
        "action": text["action"], "rules": text["rules"], "error": text["error"]})
    bad = ~ok
    for column in ("value", "lending", "ltv_bps", "ltv_change_bps", "value_change_bps", "score",
                   "grade"):
        out[column] = out[column].astype("Int64").mask(bad)
    if bad.any():
        out.loc[bad, "action"] = None
        out.loc[bad, "rules"] = pd.Series([[] for _ in range(int(bad.sum()))],
                                          index=out.index[bad], dtype=object)
    assert len(out) == n
    return out


@functools.lru_cache(maxsize=256)
def _segment(energy_type: str, usage: str | None) -> str:
    """The loan's segment: a funded car is not new; commercial by its usage (unknown usage
    counts as commercial, as in credit decisions)."""
    return vehicle_facts(False, energy_type, usage, dt.date(2000, 1, 1), 0.0,
                         dt.date(2000, 1, 1)).segment


def _per_distinct(values: pd.Series, function: Callable[[Any], Any]) -> np.ndarray:
    """`function` of each value, called once per distinct value (a book repeats them)."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return np.array([function(v) for v in distinct], dtype=object)[codes]


@functools.lru_cache(maxsize=1 << 14)
def _model_day(value: Any) -> np.datetime64:
    """The day the model takes for a date (`record.model_day`); NaT for no valid date (a car
    that validation refuses). Cached: a book's cars share a few thousand registration days."""
    day = model_day(value)
    return np.datetime64("NaT") if day is None else np.datetime64(day, "D")


def _flags(values: pd.Series) -> np.ndarray:
    """Stored flags as booleans (`record.is_true`; missing is False)."""
    return _per_distinct(values, is_true).astype(bool)


def _whole_units(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """`valuations.whole_units` of each value (half away from zero); 0 where not `ok`."""
    return np.where(ok, whole_units_array(np.where(ok, values, 0.0)), 0)


def _days(values: pd.Series) -> np.ndarray:
    """Dates, date-times or their ISO texts (None or NaN where missing) as datetime64[D]."""
    return pd.to_datetime(pd.Series(values.to_numpy(object), dtype=object),
                          format="ISO8601").to_numpy().astype("datetime64[D]")


# --- runs ----------------------------------------------------------------------------------

def create_run(session: Session, actor: str, as_of: dt.date, engine: str = "pandas"
               ) -> MonitoringRunRecord:
    """A queued run (the caller commits)."""
    if engine not in ENGINES:
        raise InvalidInput(f"engine must be one of {', '.join(ENGINES)}",
                           errors={"json": {"engine": ["unknown engine"]}})
    if as_of > clock.today():
        raise InvalidInput("as_of lies in the future", errors={"json": {"as_of": [
            "after today"]}})
    record = MonitoringRunRecord(id=str(uuid.uuid4()), as_of=as_of, engine=engine,
                                 state="queued", requested_by=actor, created_at=utcnow(),
                                 loans_total=0, loans_done=0, loans_failed=0)
    session.add(record)
    return record


def claim_run(session: Session, worker: str, stale_seconds: float = 120.0) -> str | None:
    """Take the oldest queued run, or a running one whose worker went silent (it starts
    again); None when there is none. One conditional UPDATE decides between racing workers."""
    table = core(MonitoringRunRecord)
    stale = utcnow() - dt.timedelta(seconds=stale_seconds)
    claimable = (table.c.state == "queued") | ((table.c.state == "running") & (
        (table.c.heartbeat_at < stale) | table.c.heartbeat_at.is_(None)))
    with session.begin():
        candidate = session.scalar(select(table.c.id).where(claimable)
                                   .order_by(table.c.created_at).limit(1))
        if candidate is None:
            return None
        taken = session.execute(update(table).where(table.c.id == candidate).where(claimable)
                                .values(state="running", worker=worker, heartbeat_at=utcnow()))
        return candidate if int(getattr(taken, "rowcount", 0)) == 1 else None


def run_body(run: MonitoringRunRecord) -> dict[str, Any]:
    """A run's state, progress, timings and summary (the API's answer)."""
    return {"id": run.id, "as_of": str(run.as_of), "engine": run.engine, "state": run.state,
            "requested_by": run.requested_by, "loans": run.loans_total,
            "done": run.loans_done, "failed": run.loans_failed,
            "progress": round(run.loans_done / run.loans_total, 4) if run.loans_total else (
                1.0 if run.state == "done" else 0.0),
            "created_at": iso(run.created_at), "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
            "model": {"name": run.model_name, "version": run.model_version}
            if run.model_name else None, "policy_hash": run.policy_hash,
            "timings": json.loads(run.timings_json) if run.timings_json else None,
            "summary": json.loads(run.summary_json) if run.summary_json else None,
            "error": run.error}


def get_run(session: Session, run_id: str) -> dict[str, Any]:
    run = session.get(MonitoringRunRecord, run_id)
    if run is None:
        raise NotFound(f"no monitoring run {run_id}")
    return run_body(run)


RESULT_COLUMNS = ("loan_id", "dealer_id", "balance", "value", "lending", "ltv",
                  "ltv_change_since_funding", "ltv_change_since_previous_run",
                  "value_change_since_funding", "value_change_since_previous_run", "grade",
                  "action", "rules", "error")


def results_csv(sessions: Callable[[], Session], run_id: str) -> tuple[str, Iterator[str]]:
    """A finished run's loans as a CSV file: its name and its text, by loan id, in pieces
    (read in a session of its own as they are sent): money in whole units (the balance to the
    fen, as the loan book keeps it), LTVs and changes as ratios ("0.7312"), the rule codes
    separated by spaces. 404 for no such run and 409 for a run not done, at once, before any
    piece."""
    with sessions() as session:
        run = session.get(MonitoringRunRecord, run_id)
        if run is None:
            raise NotFound(f"no monitoring run {run_id}")
        if run.state != "done":
            raise Conflict(f"run {run_id} is {run.state}: its results are complete once it "
                           "is done")

    def pieces() -> Iterator[str]:
        with sessions() as session:
            yield from _result_rows(session, run_id)

    return f"monitoring-run-{run_id}.csv", pieces()


def _result_rows(session: Session, run_id: str) -> Iterator[str]:
    results, loans = core(LoanRevaluationRecord), core(LoanRecord)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RESULT_COLUMNS)
    query = (select(results.c.loan_id, loans.c.dealer_id, loans.c.balance_fen,
                    results.c.value, results.c.lending, results.c.ltv_bps,
                    results.c.ltv_change_bps, results.c.ltv_change_prev_bps,
                    results.c.value_change_bps, results.c.value_change_prev_bps,
                    results.c.grade, results.c.action, results.c.rules_json, results.c.error)
             .join(loans, loans.c.loan_id == results.c.loan_id)
             .where(results.c.run_id == run_id).order_by(results.c.loan_id)
             .execution_options(yield_per=5_000))
    for n, r in enumerate(session.execute(query), 1):
        writer.writerow([r.loan_id, r.dealer_id, money(r.balance_fen), r.value, r.lending,
                         *(bps_text(b) for b in (r.ltv_bps, r.ltv_change_bps,
                                                 r.ltv_change_prev_bps, r.value_change_bps,
                                                 r.value_change_prev_bps)),
                         r.grade, r.action, " ".join(json.loads(r.rules_json or "[]")),
                         r.error])
        if n % 5_000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def list_runs(session: Session, *, state: str | None = None, page: int = 1,
              per_page: int = 50) -> dict[str, Any]:
    """Runs, newest first, without their summaries (`get_run` has them); filter by state."""
    query = select(MonitoringRunRecord)
    if state is not None:
        query = query.where(MonitoringRunRecord.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(MonitoringRunRecord.created_at.desc(),
                                          MonitoringRunRecord.id)
                           .offset((page - 1) * per_page).limit(per_page))
    return {"total": total, "page": page, "per_page": per_page,
            "runs": [{k: v for k, v in run_body(r).items() if k != "summary"} for r in rows]}


def list_alerts(session: Session, *, grade: int | None = None, action: str | None = None,
                dealer_id: str | None = None, segment: str | None = None,
                state: str | None = None, page: int = 1, per_page: int = 50
                ) -> dict[str, Any]:
    """Alerts, worst and newest first, filtered and paged."""
    query = select(MonitoringAlertRecord)
    for column, value in ((MonitoringAlertRecord.grade, grade),
                          (MonitoringAlertRecord.action, action),
                          (MonitoringAlertRecord.dealer_id, dealer_id),
                          (MonitoringAlertRecord.segment, segment),
                          (MonitoringAlertRecord.state, state)):
        if value is not None:
            query = query.where(column == value)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(MonitoringAlertRecord.grade.desc(),
                                          MonitoringAlertRecord.id.desc())
                           .offset((page - 1) * per_page).limit(per_page))
    return {"total": total, "page": page, "per_page": per_page,
            "alerts": [alert_body(a) for a in rows]}


def watch_dealers(session: Session, policy: Policy) -> set[str]:
    tiers = set(policy.raw["weak"]["dealer_watch"].get("tiers", []))
    if not tiers:
        return set()
    return set(session.scalars(select(DealerRecord.id).where(DealerRecord.tier.in_(tiers))))


def run_active(sessions: Callable[[], Session], predictor: Predictor, run_id: str,
               output: Path | None = None,
               progress: Callable[[int, int], None] = lambda done, total: None
               ) -> dict[str, Any]:
    """`run_pandas` with the active monitoring policy (the shipped one until another is
    activated through maker-checker)."""
    with sessions() as session, session.begin():
        version, policy = strategy_store.active_policy(session)
    summary = run_pandas(sessions, predictor, policy, run_id, output, progress=progress)
    summary["policy_version"] = version
    return summary


def run_pandas(sessions: Callable[[], Session], predictor: Predictor, policy: Policy,
               run_id: str, output: Path | None = None, chunk_loans: int = CHUNK_LOANS,
               progress: Callable[[int, int], None] = lambda done, total: None
               ) -> dict[str, Any]:
    """Revalue every active loan funded by the run's as-of date, chunk by chunk (each chunk's
    results committed with the run's progress), then alerts and the summary; returns the
    summary. With `output`, also writes one Parquet file of the per-loan results there."""
    timings = {"read_s": 0.0, "revalue_s": 0.0, "store_s": 0.0}
    as_of, ids, previous, watch = begin(sessions, run_id, policy, predictor.ref)
    results = []
    try:
        for first in range(0, len(ids), chunk_loans):
            with collector_paused():  # a chunk's rows are tens of thousands of small objects
                started = time.perf_counter()
                with sessions() as session:
                    chunk = _loan_rows(session, ids[first:first + chunk_loans])
                    before = _previous_between(session, previous,
                                               ids[first:first + chunk_loans])
                timings["read_s"] += time.perf_counter() - started
                started = time.perf_counter()
                result = revalue(chunk, predictor, policy, as_of, watch)
                timings["revalue_s"] += time.perf_counter() - started
                started = time.perf_counter()
                _store_chunk(sessions, run_id, result, before)
                timings["store_s"] += time.perf_counter() - started
            results.append(result)
            progress(min(first + chunk_loans, len(ids)), len(ids))
        book = pd.concat(results, ignore_index=True) if results else revalue_empty()
        if output is not None:
            write_parquet(book, output / f"monitoring-{as_of}-{run_id}.parquet")
        return finish(sessions, run_id, book, timings)
    except Exception as exc:
        fail(sessions, run_id, exc)
        raise


def begin(sessions: Callable[[], Session], run_id: str, policy: Policy, model: dict[str, str]
          ) -> tuple[dt.date, list[str], str | None, set[str]]:
    """Mark the run running (from its first loan again, if a worker died on it) and return its
    as-of date, the ids of the loans it values, the previous run and the watched dealers."""
    with sessions() as session, session.begin():
        run = session.get(MonitoringRunRecord, run_id)
        if run is None:
            raise NotFound(f"no monitoring run {run_id}")
        as_of = run.as_of
        loans = core(LoanRecord)
        ids = list(session.execute(select(loans.c.loan_id).where(
            loans.c.status == "active", loans.c.funded_at <= as_of)
            .order_by(loans.c.loan_id)).scalars())
        previous = _previous_run(session, run_id, as_of)
        session.execute(delete(core(LoanRevaluationRecord)).where(
            core(LoanRevaluationRecord).c.run_id == run_id))
        run.loans_done = run.loans_failed = 0
        run.state, run.started_at, run.loans_total = "running", utcnow(), len(ids)
        run.heartbeat_at = utcnow()
        run.policy_hash = policy.content_hash
        run.model_name, run.model_version = model["name"], model["version"]
        watch = watch_dealers(session, policy)
    return as_of, ids, previous, watch


def store_results(sessions: Callable[[], Session], run_id: str, book: pd.DataFrame,
                  chunk_loans: int = CHUNK_LOANS) -> None:
    """Store an engine's per-loan results (Spark's, read back from its Parquet) in chunks, with
    the changes since the previous run."""
    with sessions() as session:
        run = session.get(MonitoringRunRecord, run_id)
        assert run is not None
        previous = _previous_run(session, run_id, run.as_of)
    for first in range(0, len(book), chunk_loans):
        part = book.iloc[first:first + chunk_loans]
        with sessions() as session:
            before = _previous_results(session, previous, list(part["loan_id"]))
        _store_chunk(sessions, run_id, part, before)


def finish(sessions: Callable[[], Session], run_id: str, book: pd.DataFrame,
           timings: dict[str, float], all_in_database: bool = True) -> dict[str, Any]:
    """Alerts and the summary of a run whose results are stored; the run is done. Alerts are
    only for loans of the loan book: unless `all_in_database` (the loans were read from it),
    the others are left out. The alerts follow the latest as-of date: a run dated before a
    finished run (a look back) leaves them as that run set them. The summary's `alerts` says
    which it was, with the counts raised, changed, kept and cleared."""
    started = time.perf_counter()
    summary = summarise(book)
    with sessions() as session, session.begin(), collector_paused():
        _lock_alerts(session, run_id)
        later = _later_run(session, run_id)
        if later is not None:
            summary["alerts"] = {"updated": False, "later_run": later}
        else:
            if not all_in_database:  # alerts need a loan row
                known = set(session.execute(select(core(LoanRecord).c.loan_id)).scalars())
                book = book[book["loan_id"].isin(known)]
            summary["alerts"] = {"updated": True, **_update_alerts(session, run_id, book)}
        timings["alerts_s"] = time.perf_counter() - started
        session.execute(update(core(MonitoringRunRecord))
                        .where(core(MonitoringRunRecord).c.id == run_id)
                        .values(state="done", finished_at=utcnow(),
                                summary_json=json.dumps(summary, sort_keys=True),
                                timings_json=json.dumps({k: round(v, 3) for k, v in
                                                         timings.items()})))
    return summary


def fail(sessions: Callable[[], Session], run_id: str, exc: BaseException) -> None:
    log.exception("monitoring run %s failed", run_id)
    with sessions() as session, session.begin():
        session.execute(update(core(MonitoringRunRecord))
                        .where(core(MonitoringRunRecord).c.id == run_id)
                        .values(state="failed", finished_at=utcnow(),
                                error=f"{type(exc).__name__}: {exc}"[:500]))


def revalue_empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in (
        "loan_id", "dealer_id", "segment", "balance_fen", "value", "lending", "ltv_bps",
        "ltv_change_bps", "value_change_bps", "score", "grade", "action", "rules", "error")})


def _loan_rows(session: Session, ids: list[str]) -> pd.DataFrame:
    """The LOAN_COLUMNS of the loans `ids`, a run's next chunk: `ids` are in the database's
    own order (`begin`), so one range condition finds them (a list of thousands of bound ids
    costs more to send than the rows); loans inserted into that range since are left out.
    Dates come as the database holds them (texts in SQLite) and are read column-wise later;
    `funded_vehicle_json` is None where it equals `vehicle_json`."""
    if not ids:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LOAN_COLUMNS})
    table = core(LoanRecord)
    columns = [type_coerce(table.c[c], String).label(c) if c in ("funded_at", "odometer_date")
               else table.c[c] for c in LOAN_COLUMNS]
    # the car at funding only where its record has changed since (most loans: never)
    columns[LOAN_COLUMNS.index("funded_vehicle_json")] = case(
        (table.c.funded_vehicle_json == table.c.vehicle_json, None),
        else_=table.c.funded_vehicle_json).label("funded_vehicle_json")
    rows = session.execute(select(*columns).where(table.c.loan_id.between(ids[0], ids[-1]))
                           .order_by(table.c.loan_id)).all()
    wanted = set(ids)
    rows = [r for r in rows if r[0] in wanted]
    values = list(zip(*rows, strict=True)) if rows else [()] * len(LOAN_COLUMNS)
    return pd.DataFrame({c: pd.Series(np.array(v, dtype=object), dtype=object)
                         for c, v in zip(LOAN_COLUMNS, values, strict=True)})


def _previous_run(session: Session, run_id: str, as_of: dt.date) -> str | None:
    """The latest finished run before this one (for the changes since the previous run)."""
    table = core(MonitoringRunRecord)
    return session.scalar(select(table.c.id).where(
        table.c.state == "done", table.c.id != run_id, table.c.as_of <= as_of)
        .order_by(table.c.as_of.desc(), table.c.finished_at.desc()).limit(1))


def _lock_alerts(session: Session, run_id: str) -> None:
    """Runs that finish at once (several job workers, or the command line beside the API)
    update the alerts one after the other, each reading what the other wrote, never both the
    same open alerts. Held until the transaction ends. PostgreSQL: a transaction-level
    advisory lock; SQLite: a first write takes the database's write lock before anything is
    read (the run's own heartbeat)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(ALERTS_LOCK)))
    else:
        table = core(MonitoringRunRecord)
        session.execute(update(table).where(table.c.id == run_id).values(heartbeat_at=utcnow()))


def _later_run(session: Session, run_id: str) -> dict[str, str] | None:
    """A finished run dated after this one ({"id", "as_of"}: the latest), or None."""
    table = core(MonitoringRunRecord)
    as_of = session.scalar(select(table.c.as_of).where(table.c.id == run_id))
    later = session.execute(select(table.c.id, table.c.as_of).where(
        table.c.state == "done", table.c.id != run_id, table.c.as_of > as_of)
        .order_by(table.c.as_of.desc()).limit(1)).first()
    return None if later is None else {"id": later.id, "as_of": str(later.as_of)}


Previous = dict[str, tuple[int | None, int | None]]  # loan_id: (LTV bps, value)


def _previous_between(session: Session, run_id: str | None, ids: list[str]) -> Previous:
    """The previous run's LTV and value of the loans `ids` (in the database's order, as
    `_loan_rows` takes them)."""
    if run_id is None or not ids:
        return {}
    table = core(LoanRevaluationRecord)
    rows = session.execute(select(table.c.loan_id, table.c.ltv_bps, table.c.value)
                           .where(table.c.run_id == run_id,
                                  table.c.loan_id.between(ids[0], ids[-1])))
    return {r[0]: (r[1], r[2]) for r in rows}


def _previous_results(session: Session, run_id: str | None, ids: list[str]) -> Previous:
    """`_previous_between` for loans in any order (an engine's results read back)."""
    if run_id is None:
        return {}
    table = core(LoanRevaluationRecord)
    rows = session.execute(select(table.c.loan_id, table.c.ltv_bps, table.c.value)
                           .where(table.c.run_id == run_id, table.c.loan_id.in_(ids)))
    return {r.loan_id: (r.ltv_bps, r.value) for r in rows}


def _ints(values: pd.Series) -> list[int | None]:
    """Whole numbers (nullable) as Python ints and None, for the database driver."""
    return values.astype("Int64").to_numpy(dtype=object, na_value=None).tolist()


def _change_bps(now: list[int | None], before: list[int | None]) -> list[int | None]:
    """The change in basis points of `before`, rounded half to even; None without both."""
    return [round((a - b) * 10_000 / b) if a is not None and b else None
            for a, b in zip(now, before, strict=True)]


def _store_chunk(sessions: Callable[[], Session], run_id: str, result: pd.DataFrame,
                 before: Previous) -> None:
    """One revaluation row per loan of `result`, with the changes since the previous run,
    and the run's progress, in one transaction. The rows go to the driver's `executemany`
    as tuples: SQLAlchemy's per-row parameter handling cost as much as the inserts."""
    ids = result["loan_id"].tolist()
    previous = [before.get(loan_id, (None, None)) for loan_id in ids]
    ltv, value = _ints(result["ltv_bps"]), _ints(result["value"])
    ltv_prev = [a - b[0] if a is not None and b[0] is not None else None
                for a, b in zip(ltv, previous, strict=True)]
    value_prev = _change_bps(value, [b[1] for b in previous])
    texts: dict[tuple[str, ...], str] = {}  # a book has few distinct rule lists
    rules = [texts.get(key) or texts.setdefault(key, json.dumps(list(key)))
             for key in map(tuple, result["rules"].tolist())]
    errors = result["error"].to_numpy(object)
    action = result["action"].to_numpy(object)
    rows = list(zip([run_id] * len(ids), ids, value, _ints(result["lending"]), ltv,
                    _ints(result["ltv_change_bps"]), ltv_prev,
                    _ints(result["value_change_bps"]), value_prev, _ints(result["grade"]),
                    [a if isinstance(a, str) else None for a in action.tolist()], rules,
                    [e if isinstance(e, str) else None for e in errors.tolist()], strict=True))
    failed = sum(isinstance(e, str) for e in errors.tolist())
    table = core(MonitoringRunRecord)
    with sessions() as session, session.begin():
        if rows:
            connection = session.connection()
            connection.exec_driver_sql(_insert_sql(connection.dialect.paramstyle), rows)
        session.execute(update(table).where(table.c.id == run_id).values(
            loans_done=table.c.loans_done + len(rows),
            loans_failed=table.c.loans_failed + failed, heartbeat_at=utcnow()))


REVALUATION_COLUMNS = ("run_id", "loan_id", "value", "lending", "ltv_bps", "ltv_change_bps",
                       "ltv_change_prev_bps", "value_change_bps", "value_change_prev_bps",
                       "grade", "action", "rules_json", "error")


@functools.lru_cache(maxsize=4)
def _insert_sql(paramstyle: str) -> str:
    """INSERT of one revaluation row in the driver's own placeholders (sqlite3: qmark,
    psycopg: format or pyformat, which both take %s)."""
    marks = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(paramstyle)
    if marks is None:
        raise NotImplementedError(f"no bulk insert for the {paramstyle} parameter style")
    table = core(LoanRevaluationRecord)
    assert set(REVALUATION_COLUMNS) == set(table.c.keys()), "a revaluation column is missing"
    return (f"INSERT INTO {table.name} ({', '.join(REVALUATION_COLUMNS)}) "
            f"VALUES ({', '.join([marks] * len(REVALUATION_COLUMNS))})")


def summarise(book: pd.DataFrame) -> dict[str, Any]:
    """Counts and balances (fen) by grade, by segment and grade, by dealer and grade, and the
    LTV distribution (basis-point bins)."""
    graded = book[book["grade"].notna()]
    balance = graded["balance_fen"].astype("int64")

    def by(keys: list[str]) -> list[dict[str, Any]]:
        totals = graded[keys].assign(balance_fen=balance).groupby(keys, sort=True)[
            "balance_fen"].agg(["size", "sum"])
        out = []
        for key, loans, fen in zip(totals.index, totals["size"], totals["sum"], strict=True):
            names = key if isinstance(key, tuple) else (key,)
            out.append({**{k: (int(v) if k == "grade" else v) for k, v in zip(
                keys, names, strict=True)}, "loans": int(loans), "balance_fen": int(fen)})
        return out

    ltv = graded["ltv_bps"].astype("int64").to_numpy()
    edges = np.array(LTV_BINS[1:])
    bins = np.searchsorted(edges, ltv, side="right")
    labels = [f"{lo / 100:.0f}-{hi / 100:.0f}%" for lo, hi in zip(LTV_BINS, LTV_BINS[1:],
                                                                  strict=False)]
    labels.append(f">={LTV_BINS[-1] / 100:.0f}%")
    return {
        "loans": len(book), "valued": len(graded), "failed": int(len(book) - len(graded)),
        "balance_fen": int(balance.sum()),
        "by_grade": by(["grade"]), "by_segment": by(["segment", "grade"]),
        "by_dealer": by(["dealer_id", "grade"]),
        "by_action": by(["action"]),
        "ltv_distribution": [{"bin": labels[i], "loans": int((bins == i).sum())}
                             for i in range(len(labels))],
    }


def write_parquet(book: pd.DataFrame, path: Path) -> None:
    """One row per loan: loan_id, value, lending_value, ltv (basis points), grade, action,
    rule codes, error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "loan_id": book["loan_id"].astype(str), "value": book["value"].astype("Int64"),
        "lending_value": book["lending"].astype("Int64"),
        "ltv_bps": book["ltv_bps"].astype("Int64"), "grade": book["grade"].astype("Int64"),
        "action": book["action"], "rules": [list(r) for r in book["rules"]],
        "error": book["error"]}).to_parquet(path, index=False)


# --- alerts --------------------------------------------------------------------------------

def _update_alerts(session: Session, run_id: str, book: pd.DataFrame) -> dict[str, int]:
    """Raise an alert for a loan graded ALERT_GRADE or worse that has none open, keep an open
    one up to date, clear it when the loan is graded 1 again or left the active book. Core
    statements in bulk (executemany), with one audit row per change. Returns how many alerts
    were raised, changed (grade, action or rules), kept and cleared (changed ones are kept)."""
    now = utcnow()
    alerts, audit = core(MonitoringAlertRecord), core(MonitoringAuditRecord)
    live = {r.loan_id: r for r in session.execute(
        select(alerts.c.id, alerts.c.loan_id, alerts.c.grade, alerts.c.action,
               alerts.c.rules_json).where(alerts.c.state != "cleared"))}
    graded = book[book["grade"].notna()]
    # only loans in alert now or before: most of a book is graded 1 and has no alert
    concern = (graded["grade"] >= ALERT_GRADE).to_numpy(bool) | graded["loan_id"].isin(
        live.keys()).to_numpy(bool)
    graded = graded[concern]
    raised, kept, cleared, trail = [], [], [], []
    texts: dict[tuple[str, ...], str] = {}  # a book has few distinct rule lists
    for loan_id, dealer_id, segment, grade, action, rules in zip(
            graded["loan_id"], graded["dealer_id"], graded["segment"], graded["grade"],
            graded["action"], graded["rules"], strict=True):
        alert = live.get(loan_id)
        grade, codes = int(grade), tuple(rules)
        text = texts.get(codes) or texts.setdefault(codes, json.dumps(list(codes)))
        if grade >= ALERT_GRADE and alert is None:
            raised.append({"loan_id": loan_id, "dealer_id": dealer_id, "segment": segment,
                           "state": "open", "grade": grade, "action": action,
                           "rules_json": text, "raised_run_id": run_id, "last_run_id": run_id,
                           "raised_at": now})
        elif grade >= ALERT_GRADE and alert is not None:
            if (alert.grade, alert.action, alert.rules_json) != (grade, action, text):
                trail.append(_trail(alert.id, "changed", run_id, now, {
                    "grade": [alert.grade, grade], "action": [alert.action, action]}))
            kept.append({"alert_id": alert.id, "grade": grade, "action": action,
                         "rules_json": text, "last_run_id": run_id})
        elif alert is not None:
            cleared.append((alert.id, "graded 1"))
    changed = len(trail)  # so far the trail holds the changes only
    seen = set(book["loan_id"])
    cleared += [(a.id, "no longer an active loan") for loan_id, a in live.items()
                if loan_id not in seen]
    conn = session.connection()
    if raised:
        conn.execute(insert(alerts), raised)
        trail += _raised_trail(session, run_id, now)
    if kept:
        conn.execute(update(alerts).where(alerts.c.id == bindparam("alert_id")).values(
            grade=bindparam("grade"), action=bindparam("action"),
            rules_json=bindparam("rules_json"), last_run_id=bindparam("last_run_id")), kept)
    if cleared:
        conn.execute(update(alerts).where(alerts.c.id == bindparam("alert_id")).values(
            state="cleared", cleared_run_id=run_id, cleared_at=now),
            [{"alert_id": alert_id} for alert_id, _ in cleared])
        trail += [_trail(alert_id, "cleared", run_id, now, {"why": why})
                  for alert_id, why in cleared]
    if trail:
        conn.execute(insert(audit), trail)
    return {"raised": len(raised), "changed": changed, "kept": len(kept),
            "cleared": len(cleared)}


def _raised_trail(session: Session, run_id: str, now: dt.datetime) -> list[dict[str, Any]]:
    """The audit rows of the alerts `run_id` raised (their ids are the database's), one detail
    text per distinct grade, action and rules (a book has few)."""
    alerts = core(MonitoringAlertRecord)
    new = session.connection().execute(
        select(alerts.c.id, alerts.c.grade, alerts.c.action, alerts.c.rules_json)
        .where(alerts.c.raised_run_id == run_id, alerts.c.state == "open"))
    details: dict[tuple[int, str, str], str] = {}
    rows = []
    for r in new:
        key = (r.grade, r.action, r.rules_json)
        if key not in details:
            details[key] = json.dumps({"grade": r.grade, "action": r.action,
                                       "rules": json.loads(r.rules_json)}, ensure_ascii=False)
        rows.append({"alert_id": r.id, "at": now, "action": "raised", "actor": "monitor",
                     "run_id": run_id, "detail_json": details[key]})
    return rows


def _trail(alert_id: int, action: str, run_id: str, now: dt.datetime,
           detail: dict[str, Any]) -> dict[str, Any]:
    return {"alert_id": alert_id, "at": now, "action": action, "actor": "monitor",
            "run_id": run_id, "detail_json": json.dumps(detail, ensure_ascii=False)}


def _audit(session: Session, alert_id: int, action: str, run_id: str | None,
           detail: dict[str, Any], actor: str = "monitor") -> None:
    session.add(MonitoringAuditRecord(alert_id=alert_id, at=utcnow(), action=action,
                                      actor=actor, run_id=run_id,
                                      detail_json=json.dumps(detail, ensure_ascii=False)))


def acknowledge(session: Session, actor: str, alert_id: int, comment: str) -> dict[str, Any]:
    """A risk officer acknowledges an alert with a comment (audited); a cleared alert cannot
    be."""
    alert = session.get(MonitoringAlertRecord, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    if alert.state == "cleared":
        raise InvalidInput("the alert is cleared", errors={"json": {"_schema": [
            "cleared alerts cannot be acknowledged"]}})
    alert.state, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", actor, utcnow()
    alert.comment = comment
    _audit(session, alert.id, "acknowledged", None, {"comment": comment}, actor=actor)
    return alert_body(alert)


def alert_body(alert: MonitoringAlertRecord) -> dict[str, Any]:
    rules = json.loads(alert.rules_json)
    return {"id": alert.id, "loan_id": alert.loan_id, "dealer_id": alert.dealer_id,
            "segment": alert.segment, "state": alert.state, "grade": alert.grade,
            "action": alert.action,
            "rules": [{"code": c, **RULES[c]} for c in rules],
            "raised_run_id": alert.raised_run_id, "last_run_id": alert.last_run_id,
            "cleared_run_id": alert.cleared_run_id,
            "raised_at": iso(alert.raised_at),
            "acknowledged_by": alert.acknowledged_by, "comment": alert.comment}
