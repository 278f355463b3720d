"""In-loan monitoring at scale: synthetic loan books of 100,000 and 1,000,000 loans through
both engines; loans per second end to end (a run: read, value, grade, store, alerts, summary),
peak memory, and the ratio to raw CatBoost batch prediction (point, P10, P90) of the same cars.

    .venv/bin/python benchmarks/monitoring.py [--loans 100000 --loans 1000000]
        [--engine pandas --engine spark]

Each book is loaded into its own SQLite file (cars valued at funding in one batch, rows
inserted with Core; the import path with its per-row checks is not what is timed). Each run
is a fresh process, so its peak resident memory (the process, and for Spark also its JVM and
Python workers) is its own. Writes benchmarks/results/monitoring.json.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
RESULT = Path(__file__).with_name("results") / "monitoring.json"
AS_OF = dt.date(2026, 6, 30)


def load_book(url: str, loans: int, predictor: Any) -> float:
    """A synthetic book in `url`; returns the seconds it took."""
    from valuation.model.record import NAMES
    from valuation.services import demo_loans
    from valuation.services.valuations import whole_units
    from valuation.store import db
    from valuation.store.tables import DealerRecord, LoanRecord, core, utcnow

    started = time.perf_counter()
    db.upgrade(url)
    tape = demo_loans.generate(loans, seed=31, as_of=AS_OF)
    cars = tape[[c for c in NAMES if c in tape.columns]].copy()
    cars["valuation_date"] = tape["funded_at"]
    pred = predictor.predict(cars, today=AS_OF)
    whole = [whole_units(v) for v in pred["value"]]
    low = [min(whole_units(v), w) for v, w in zip(pred["value_low"], whole, strict=True)]
    records = cars.drop(columns=["valuation_date"]).to_dict("records")
    engine = db.make_engine(url)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(sqlalchemy.insert(core(DealerRecord)), [
            {"id": d, "name": "", "tier": "T3" if d == "D2" else "T1", "updated_at": now}
            for d in demo_loans.DEALERS])
    rows = []
    for i, t in enumerate(tape.itertuples(index=False)):
        vehicle = json.dumps({k: v for k, v in records[i].items() if v == v and v is not None},
                             ensure_ascii=False, default=str)
        rows.append({
            "loan_id": t.loan_id, "application_id": None, "dealer_id": t.dealer_id,
            "funded_at": dt.date.fromisoformat(t.funded_at),
            "principal_fen": round(float(t.principal) * 100), "term_months": int(t.term_months),
            "annual_rate_bps": round(float(t.annual_rate) * 10_000),
            "balance_fen": round(float(t.outstanding_balance) * 100), "balance_date": AS_OF,
            "status": t.status, "days_past_due": int(t.days_past_due),
            "odometer_km": int(t.odometer_km) if t.odometer_km else None,
            "odometer_date": dt.date.fromisoformat(t.odometer_date) if t.odometer_date else None,
            "valuation_id": None, "vehicle_json": vehicle, "funded_vehicle_json": vehicle,
            "funded_value": whole[i], "funded_lending": low[i], "created_at": now,
            "updated_at": now})
        if len(rows) == 50_000:
            with engine.begin() as conn:
                conn.execute(sqlalchemy.insert(core(LoanRecord)), rows)
            rows = []
    if rows:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.insert(core(LoanRecord)), rows)
    engine.dispose()
    return time.perf_counter() - started


def raw_rows_per_s(predictor: Any, loans: int) -> float:
    """Raw CatBoost batch prediction (point, P10, P90) of the book's cars valued at AS_OF, the
    categorical columns as text (the suite's target-4 reference)."""
    from valuation.model import features
    from valuation.model.record import NAMES
    from valuation.services import demo_loans

    tape = demo_loans.generate(min(loans, 200_000), seed=31, as_of=AS_OF)
    cars = tape[[c for c in NAMES if c in tape.columns]].assign(valuation_date=str(AS_OF))
    derived, _, _, _ = predictor.prepare(cars, AS_OF)
    x = features.model_input(derived, predictor.neutral)
    x = x.astype({name: str for name in features.CATEGORICAL})
    started = time.perf_counter()
    for model in (predictor.point, predictor.low, predictor.high):
        model.predict(x)
    return len(x) / (time.perf_counter() - started)


class TreePeak:
    """The peak resident memory (MiB) of this process and all its descendants (Spark's JVM and
    Python workers), sampled from /proc every 0.2 s."""

    def __init__(self) -> None:
        import threading

        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE") / 2**20
        me = os.getpid()
        while not self._stop.wait(0.2):
            parents: dict[int, int] = {}
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                        parents[int(entry.name)] = int(stat[1])
                    except (OSError, IndexError):
                        continue
            tree, grew = {me}, True
            while grew:
                grew = False
                for pid, parent in parents.items():
                    if parent in tree and pid not in tree:
                        tree.add(pid)
                        grew = True
            total = 0.0
            for pid in tree:
                try:
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
                except (OSError, IndexError):
                    continue
            self.peak = max(self.peak, total)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def one_run(engine_name: str, url: str, work: Path) -> dict[str, Any]:
    """One run in this process (called in a fresh process by `main`)."""
    from sqlalchemy.orm import sessionmaker

    from valuation.config import Config
    from valuation.model.predictor import Predictor
    from valuation.model.registry import Registry
    from valuation.services import monitoring, strategy_store
    from valuation.store import db

    settings = Config.from_env()
    registry = Registry(settings.MODEL_ROOT)
    predictor = Predictor.load(registry, "demo")
    sessions = sessionmaker(db.make_engine(url), expire_on_commit=False)
    with sessions() as session, session.begin():
        _, policy = strategy_store.active_policy(session)
        run_id = monitoring.create_run(session, "bench", AS_OF, engine_name).id
    sampler = TreePeak()
    started = time.perf_counter()
    if engine_name == "spark":
        from valuation.services.monitoring_spark import run_spark
        summary = run_spark(sessions, registry, predictor, policy, run_id, work,
                            master="local[2]")
    else:
        summary = monitoring.run_pandas(sessions, predictor, policy, run_id)
    seconds = time.perf_counter() - started
    tree_peak = sampler.stop()
    with sessions() as session:
        timings = monitoring.get_run(session, run_id)["timings"]
    # (not getrusage's ru_maxrss: Linux carries it across exec, so a child spawned by a big
    # parent reports the parent's peak)
    return {"engine": engine_name, "loans": summary["loans"], "seconds": round(seconds, 1),
            "loans_per_s": round(summary["loans"] / seconds, 1),
            "peak_tree_rss_mib": round(tree_peak, 1),
            "timings": timings, "grades": {str(g["grade"]): g["loans"]
                                           for g in summary["by_grade"]}}


@click.command()
@click.option("--loans", "sizes", multiple=True, type=int, default=(100_000, 1_000_000),
              show_default=True)
@click.option("--engine", "engines", multiple=True, type=click.Choice(["pandas", "spark"]),
              default=("pandas", "spark"), show_default=True)
@click.option("--one", type=click.Choice(["pandas", "spark"]), hidden=True)
@click.option("--db", hidden=True)
@click.option("--work", hidden=True, type=click.Path(path_type=Path))
def main(sizes: tuple[int, ...], engines: tuple[str, ...], one: str | None, db: str | None,
         work: Path | None) -> None:
    if one:
        click.echo(json.dumps(one_run(one, str(db), Path(str(work)))))
        return
    from valuation.config import Config
    from valuation.model.predictor import Predictor
    from valuation.model.registry import Registry

    predictor = Predictor.load(Registry(Config.from_env().MODEL_ROOT), "demo")
    report: dict[str, Any] = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              "cores": os.cpu_count(), "books": []}
    for loans in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"monitoring-{loans}-"))
        url = f"sqlite:///{folder / 'book.db'}"
        click.echo(f"{loans:,} loans: loading ...", err=True)
        book = {"loans": loans, "load_s": round(load_book(url, loans, predictor), 1),
                "raw_rows_per_s": round(raw_rows_per_s(predictor, loans), 1), "runs": []}
        for name in engines:
            click.echo(f"{loans:,} loans: {name} ...", err=True)
            out = subprocess.run([sys.executable, __file__, "--one", name, "--db", url,
                                  "--work", str(folder)], capture_output=True, text=True,
                                 cwd=ROOT, check=True).stdout
            run = json.loads(out.strip().splitlines()[-1])
            run["share_of_raw"] = round(run["loans_per_s"] / book["raw_rows_per_s"], 3)
            book["runs"].append(run)
            click.echo(json.dumps(run), err=True)
        report["books"].append(book)
    if len(report["books"]) >= 2:  # linearity: time per loan, largest over smallest book
        small, large = report["books"][0], report["books"][-1]
        report["time_per_loan_growth"] = {
            a["engine"]: round((b["seconds"] / b["loans"]) / (a["seconds"] / a["loans"]), 3)
            for a, b in zip(small["runs"], large["runs"], strict=True)}
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    click.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
