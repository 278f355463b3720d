"""`make bench`: every hot path against the raw library call or a hello-world app measured in
the same run (medians; the machine is shared and noisy, so ratios are what count). Writes
benchmarks/results/latest.json and prints the table the README shows."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import inprocess
import load
import pandas as pd
import sqlalchemy
from simulation import applications

from valuation.config import Config
from valuation.model import features
from valuation.model.predictor import Predictor
from valuation.model.registry import Registry
from valuation.services import keys
from valuation.store import db

RESULTS = Path(__file__).with_name("results") / "latest.json"
# The hot requests on SQLite, served otherwise, to show where their time goes: (endpoint,
# name, gunicorn target, settings). The service with every commit synced and with parts taken
# out (benchmarks/floor.py); the requests made of the named libraries' calls alone
# (benchmarks/library_floor.py).
LIBRARY_FLOOR = "benchmarks.library_floor:create_app()"
VARIANTS = (("valuations", "durable", "wsgi:app", {"VALUATION_COMMIT": "durable"}),
            ("valuations", "without model", "benchmarks.floor:app", {"FLOOR_OMIT": "model"}),
            ("valuations", "without store", "benchmarks.floor:app", {"FLOOR_OMIT": "store"}),
            ("valuations", "without model and store", "benchmarks.floor:app",
             {"FLOOR_OMIT": "model,store"}),
            ("valuations", "libraries only", LIBRARY_FLOOR, {}),
            ("credit", "without reads, decision and store", "benchmarks.floor:app",
             {"FLOOR_OMIT": "decision"}),
            ("credit", "libraries only", LIBRARY_FLOOR, {}))
ENDPOINTS = {"valuations": "2 POST /v1/valuations", "credit": "5 POST /v1/credit-limits"}
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"


def _postgres_url() -> str | None:
    """A fresh `bench` database on the local PostgreSQL, or None when none answers."""
    try:
        admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text("DROP DATABASE IF EXISTS bench WITH (FORCE)"))
            conn.execute(sqlalchemy.text("CREATE DATABASE bench"))
        admin.dispose()
        return PG_BENCH
    except sqlalchemy.exc.OperationalError:
        return None


@contextmanager
def _service(url: str, work: Path, target: str = "wsgi:app",
             settings_env: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """The service on `url` under gunicorn (`target`: the app, or the floor app of
    benchmarks/floor.py; `settings_env`: more settings): its base URL, the wrk scripts of its
    two hot endpoints, the time from start to /ready and the master's pid."""
    instance = work / url.split(":")[0]
    db.upgrade(url)
    settings = Config(DATABASE_URL=url, INSTANCE_PATH=instance)
    engine = db.make_engine(url)
    with sqlalchemy.orm.Session(engine) as session, session.begin():
        key = keys.create_key(session, "underwriter", "bench-underwriter", None,
                              settings.api_key_secret())
    engine.dispose()
    env = {"DATABASE_URL": url, "INSTANCE_PATH": str(instance), "MODEL_NAME": "demo",
           "MODEL_ROOT": str(load.ROOT / "models"), "LOG_LEVEL": "WARNING",
           # the limiter stays on (its cost is part of the figure), with budgets wrk cannot
           # exhaust
           "RATE_LIMITS": load.UNLIMITED, **(settings_env or {})}
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    with load.gunicorn(target, env, ready_path="/ready") as (base, ready, master):
        first = urllib.request.Request(base + "/v1/valuations", json.dumps(inprocess.CAR).encode(),
                                       headers, method="POST")
        with urllib.request.urlopen(first) as response:
            valuation_id = json.loads(response.read())["id"]
        application = {"application_id": "@UNIQUE@", "valuation_id": valuation_id,
                       "customer": {"score": 700, "monthly_income": 30000},
                       "dealer": {"id": "D1", "tier": "T1"}, "is_new": False,
                       "declared_price": 120000, "down_payment": 40000, "term_months": 36,
                       "annual_rate": "0.05"}
        yield {"base": base, "ready_s": ready, "master": master, "headers": headers, "scripts": {
            "valuations": load.wrk_script("POST", "/v1/valuations", headers,
                                          json.dumps(inprocess.CAR)),
            "credit": load.wrk_script("POST", "/v1/credit-limits", headers,
                                      json.dumps(application), unique=True)}}


def batch_endpoint(predictor: Predictor, base: str, headers: dict[str, str],
                   rows: int = 1_000, repeat: int = 7) -> dict[str, float]:
    """Target 4 over HTTP: `POST /v1/valuations/batch` of `rows` cars as JSON (the most a JSON
    batch takes): validated, valued with breakdown and residuals, stored, answered; timed from
    the client, one request at a time, alternately with the raw three-model call on the same
    cars in this process."""
    frame = inprocess.demo_cars(rows)
    body = inprocess.batch_body(frame)

    def post() -> bytes:
        request = urllib.request.Request(base + "/v1/valuations/batch", body, headers,
                                         method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read()  # the whole answer received; parsing it is the client's

    valued = json.loads(post())["valued"]
    if valued != rows:
        raise RuntimeError(f"the batch valued {valued} of {rows} cars")
    ours, raw = inprocess.interleaved(post, inprocess.raw_three_models(predictor, frame), repeat)
    return {"rows": rows, "rows_per_s": rows / ours, "raw_rows_per_s": rows / raw,
            "share": raw / ours}


def _hello_script() -> str:
    return load.wrk_script("POST", "/", {"Content-Type": "application/json"},
                           json.dumps(inprocess.CAR))


def load_in_rounds(targets: dict[str, tuple[str, str]], seconds: int, rounds: int
                   ) -> dict[str, Any]:
    """wrk on every target (name: (base URL, script)) one after the other, `rounds` times,
    every server up throughout and warmed up first: each round compares the targets within a
    minute of each other, on a machine whose speed drifts over the run. Per target: the
    rounds' figures and their medians."""
    for base, script in targets.values():
        load.wrk(base, script, load.WARM_UP_SECONDS)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for round_ in range(rounds):
        names = list(targets)
        names = names[round_ % len(names):] + names[:round_ % len(names)]  # rotate the order
        for name in names:
            base, script = targets[name]
            runs[name].append(load.wrk(base, script, seconds))
    out: dict[str, Any] = {}
    for name, got in runs.items():
        out[name] = {key: statistics.median(run[key] for run in got)
                     for key in ("rps", "p50_ms", "p99_ms")}
        out[name]["non_2xx"] = max(run["non_2xx"] for run in got)
        out[name]["rounds"] = got
    return out


def ratio_of_rounds(loads: dict[str, Any], ours: str, reference: str) -> float:
    """The median over rounds of ours / reference, both measured in the same round."""
    return statistics.median(a["rps"] / b["rps"] for a, b in zip(
        loads[ours]["rounds"], loads[reference]["rounds"], strict=True))


def _row(name: str, measured: str, reference: str, ratio: float, goal: str, met: bool
         ) -> dict[str, Any]:
    return {"target": name, "measured": measured, "reference": reference,
            "ratio": round(ratio, 3), "goal": goal, "met": met}


def table(r: dict[str, Any]) -> list[dict[str, Any]]:
    one, batch, dec = r["valuation_one"], r["batch"], r["decisions"]
    rows = [_row("1 one valuation (in process)", f"{one['ours_ms']:.2f} ms",
                 f"raw predict {one['raw_ms']:.2f} ms", one["ratio"], "<= 2x",
                 one["ratio"] <= 2)]
    hello = r.get("hello")
    for database, http in r.get("http", {}).items():
        for key, label, goal in (("valuations", "2 POST /v1/valuations", 0.40),
                                 ("credit", "5 POST /v1/credit-limits", 0.40)):
            got = http[key]
            share = got["share_of_hello"]
            tail = got["p99_ms"] / got["p50_ms"]
            rows.append(_row(f"{label} ({database})",
                             f"{got['rps']:.0f} req/s, p50 {got['p50_ms']:.1f} ms, "
                             f"p99 {got['p99_ms']:.1f} ms",
                             f"hello world {hello['rps']:.0f} req/s", share,
                             f">= {goal:.0%} of hello, p99 <= 3x p50",
                             share >= goal and (key == "credit" or tail <= 3)
                             and got["non_2xx"] == 0))
    for key, got in r.get("variants", {}).items():
        endpoint, _, name = key.partition(": ")
        rows.append(_row(f"{ENDPOINTS[endpoint]} (sqlite), {name}", f"{got['rps']:.0f} req/s",
                         f"hello world {hello['rps']:.0f} req/s", got["share_of_hello"],
                         "reported: where the time goes", True))
    if "mlflow" in r and "sqlite" in r.get("http", {}):
        ours = r["http"]["sqlite"]["valuations"]["rps"]
        theirs, times = r["mlflow"]["rps"], r["mlflow"]["ours_over_mlflow"]
        rows.append(_row("3 ours vs MLflow scoring server", f"{ours:.0f} req/s",
                         f"mlflow {theirs:.0f} req/s", times, ">= 5x", times >= 5))
    rows.append(_row("4 valuation predict (batch)", f"{batch['predict_rows_per_s']:.0f} rows/s",
                     f"raw 3 models {batch['raw_rows_per_s']:.0f} rows/s",
                     batch["predict_share"], ">= 60 %", batch["predict_share"] >= 0.6))
    rows.append(_row("4 batch bodies (breakdown, residuals)",
                     f"{batch['bodies_rows_per_s']:.0f} rows/s",
                     f"raw 3 models {batch['raw_bodies_rows_per_s']:.0f} rows/s",
                     batch["bodies_share"], ">= 20 %", batch["bodies_share"] >= 0.2))
    endpoint = r.get("batch_endpoint")
    if endpoint:
        rows.append(_row(f"4 POST /v1/valuations/batch ({endpoint['rows']:,} cars, JSON, "
                         "stored)", f"{endpoint['rows_per_s']:.0f} rows/s",
                         f"raw 3 models {endpoint['raw_rows_per_s']:.0f} rows/s",
                         endpoint["share"], ">= 20 %", endpoint["share"] >= 0.2))
    floor = r.get("batch_endpoint_libraries_only")
    if floor:
        rows.append(_row(f"4 POST /v1/valuations/batch ({floor['rows']:,} cars, JSON, stored), "
                         "libraries only", f"{floor['rows_per_s']:.0f} rows/s",
                         f"raw 3 models {floor['raw_rows_per_s']:.0f} rows/s", floor["share"],
                         "reported: where the time goes", True))
    small = r.get("small_batch")
    if small:
        rows.append(_row(f"4 batch of {small['cars']} cars (in process)",
                         f"{small['batch_ms']:.1f} ms, {small['per_car_ms']:.2f} ms a car",
                         f"one valuation {small['one_ms']:.2f} ms", small["per_car_over_one"],
                         "reported", True))
    rows.append(_row("6 decide", f"{dec['decide_us']:.1f} us", "", dec["decide_us"] / 20,
                     "<= 20 us", dec["decide_us"] <= 20))
    rows.append(_row("6 decide_frame", f"{dec['decide_frame_rows_per_s']:.0f} rows/s", "",
                     dec["decide_frame_rows_per_s"] / 500_000, ">= 500,000/s",
                     dec["decide_frame_rows_per_s"] >= 500_000))
    for database, http in r.get("http", {}).items():
        rows.append(_row(f"6 start to /ready ({database})", f"{http['ready_s']:.1f} s", "",
                         0.0, "reported", True))
        rows.append(_row(f"6 worker memory ({database})", f"{http['worker_rss_mib']:.0f} MiB",
                         "", 0.0, "reported", True))
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    head = "| target | measured | reference (same run) | ratio | goal | met |\n|---|---|---|---|---|---|"
    lines = [f"| {r['target']} | {r['measured']} | {r['reference']} | {r['ratio']} | "
             f"{r['goal']} | {'yes' if r['met'] else 'NO'} |" for r in rows]
    return "\n".join([head, *lines])


def _http(predictor: Predictor, seconds: int, rounds: int, mlflow: bool, postgres: bool
          ) -> dict[str, Any]:
    """Every server started (hello world, the service on SQLite and on PostgreSQL, the MLflow
    scoring server), then loaded in rounds; the results by server."""
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    with contextlib.ExitStack() as servers:
        hello, _, _ = servers.enter_context(load.gunicorn("benchmarks.hello:app", {}))
        targets = {"hello": (hello, _hello_script())}
        services = {"sqlite": servers.enter_context(_service(f"sqlite:///{work / 'bench.db'}",
                                                             work))}
        url = _postgres_url() if postgres else None
        if url:
            services["postgresql"] = servers.enter_context(_service(url, work))
        for database, service in services.items():
            for key, script in service["scripts"].items():
                targets[f"{database}/{key}"] = (service["base"], script)
        variants = {}  # one server per target and settings, loaded on each endpoint asked
        for endpoint, name, target, env in VARIANTS:
            key = (target, tuple(sorted(env.items())))
            if key not in variants:
                variants[key] = servers.enter_context(_service(
                    f"sqlite:///{work / f'variant-{len(variants)}.db'}", work, target, env))
            targets[f"{endpoint}: {name}"] = (variants[key]["base"],
                                              variants[key]["scripts"][endpoint])
        if mlflow:
            import mlflow_serving
            derived, _, _, _ = predictor.prepare(pd.DataFrame([inprocess.CAR]))
            row = features.model_input(derived, predictor.neutral).iloc[0]
            folder, _ = Registry(load.ROOT / "models").load("demo")
            targets["mlflow"] = servers.enter_context(mlflow_serving.serve(
                folder / "point.cbm", {k: (None if v != v else v) for k, v in row.items()},
                work))
        loads = load_in_rounds(targets, seconds, rounds)
        out: dict[str, Any] = {"hello": loads["hello"], "http": {}}
        for database, service in services.items():
            rss = load.worker_rss_mib(service["master"])
            out["http"][database] = {"ready_s": service["ready_s"],
                                     "worker_rss_mib": max(rss) if rss else None}
            for key in service["scripts"]:
                name = f"{database}/{key}"
                out["http"][database][key] = {
                    **loads[name], "share_of_hello": ratio_of_rounds(loads, name, "hello")}
        out["variants"] = {f"{endpoint}: {name}": {
            **loads[f"{endpoint}: {name}"],
            "share_of_hello": ratio_of_rounds(loads, f"{endpoint}: {name}", "hello")}
            for endpoint, name, _, _ in VARIANTS}
        # after the workers' memory is read: a batch of 1,000 cars grows the worker's heap
        sqlite = services["sqlite"]
        out["batch_endpoint"] = batch_endpoint(predictor, sqlite["base"], sqlite["headers"])
        floor = variants[(LIBRARY_FLOOR, ())]  # the same batch made of the libraries' calls
        out["batch_endpoint_libraries_only"] = batch_endpoint(predictor, floor["base"],
                                                              floor["headers"])
        if mlflow:
            out["mlflow"] = {**loads["mlflow"], "connections": load.CONNECTIONS,
                             "ours_over_mlflow": ratio_of_rounds(loads, "sqlite/valuations",
                                                                 "mlflow")}
    return out


@click.command()
@click.option("--seconds", default=6, show_default=True, help="wrk duration per load run")
@click.option("--rounds", default=3, show_default=True,
              help="load every server this many times, in turn")
@click.option("--mlflow/--no-mlflow", default=True, show_default=True,
              help="install MLflow in benchmarks/.venv-mlflow and load its scoring server")
@click.option("--postgres/--no-postgres", default=True, show_default=True)
def main(seconds: int, rounds: int, mlflow: bool, postgres: bool) -> None:
    """Run the suite, write benchmarks/results/latest.json, print the table."""
    results: dict[str, Any] = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                               "python": platform.python_version()}
    predictor = Predictor.load(Registry(load.ROOT / "models"), "demo")
    click.echo("in process: one valuation, batch, decisions ...")
    results["valuation_one"] = inprocess.one_valuation(predictor)
    results["batch"] = inprocess.batch(predictor)
    results["small_batch"] = inprocess.small_batch(predictor)
    results["decisions"] = inprocess.decisions(applications(100_000))
    if load.have_wrk():
        click.echo(f"HTTP: hello world, the service on SQLite and PostgreSQL, MLflow; {rounds} "
                   f"rounds of {seconds} s each ...")
        results.update(_http(predictor, seconds, rounds, mlflow, postgres))
    else:
        click.echo("wrk is not installed: HTTP targets skipped (apt-get install wrk)")
    results["table"] = table(results)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=float))
    click.echo(render(results["table"]))
    click.echo(f"written {RESULTS.relative_to(load.ROOT)}")


if __name__ == "__main__":
    main()
