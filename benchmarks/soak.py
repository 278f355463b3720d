"""Soak: mixed traffic at concurrency 16 for 60 s against gunicorn (gunicorn.conf.py, 2 web
workers) on PostgreSQL, over loopback. Reports requests, errors (target 0), p50/p99 per kind
and overall, web-worker memory after the warm-up and at the end (target: growth under 10 %),
and checks that every credit decision answered 201 is in the database afterwards.

    .venv/bin/python benchmarks/soak.py [--seconds 60] [--concurrency 16]

Traffic, per request drawn at random (seeded): 45 % POST /v1/valuations, 25 % POST
/v1/credit-limits (a new application each, its car valued inline), 10 % POST
/v1/valuations/batch (20 cars as JSON), 20 % strategy reads (GET /v1/strategies/default and
the active version). Rate limits stay on, with budgets the run cannot exhaust. Writes
benchmarks/results/soak.json.
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click
import load
import sqlalchemy
from sqlalchemy.orm import Session

from valuation.config import Config
from valuation.model import demo_market
from valuation.services import keys
from valuation.store import db

RESULT = Path(__file__).with_name("results") / "soak.json"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_SOAK = "postgresql+psycopg://postgres@127.0.0.1:5432/soak"
EXPECTED = {"valuation": 201, "credit": 201, "batch": 200, "strategy": 200}


def fresh_database() -> str:
    admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text("DROP DATABASE IF EXISTS soak WITH (FORCE)"))
        conn.execute(sqlalchemy.text("CREATE DATABASE soak"))
    admin.dispose()
    db.upgrade(PG_SOAK)
    return PG_SOAK


def cars(n: int, seed: int) -> list[dict[str, Any]]:
    """Demo-market cars as API requests (registered in the past, valued today)."""
    frame = demo_market.generate(n, seed=seed).drop(columns=["price", "valuation_date"])
    out = []
    for record in frame.to_dict("records"):
        out.append({k: (v.isoformat()[:10] if hasattr(v, "isoformat") else v)
                    for k, v in record.items() if v == v and v is not None})
    return out


class Traffic:
    """One client thread's requests; latencies and statuses are appended to shared lists."""

    def __init__(self, port: int, headers: dict[str, dict[str, str]], pool: list[dict[str, Any]],
                 seed: int, until: float, out: list[tuple[str, int, float]],
                 decided: list[str]) -> None:
        self.port, self.headers, self.pool = port, headers, pool
        self.random, self.until, self.out, self.decided = random.Random(seed), until, out, decided
        self.seed, self.count = seed, 0

    def call(self, method: str, path: str, role: str, body: Any = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            headers = {**self.headers[role], "Content-Type": "application/json"}
            conn.request(method, path, json.dumps(body) if body is not None else None, headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def one(self) -> None:
        draw = self.random.random()
        car = self.random.choice(self.pool)
        started = time.perf_counter()
        if draw < 0.45:
            kind, (status, _) = "valuation", self.call("POST", "/v1/valuations", "dealer", car)
        elif draw < 0.70:
            self.count += 1
            kind = "credit"
            application = {
                "application_id": f"SOAK-{self.seed}-{self.count}",
                "customer": {"score": self.random.randint(560, 820),
                             "monthly_income": self.random.randint(8, 60) * 1000},
                "dealer": {"id": "D1", "tier": "T1"}, "vehicle": car, "is_new": False,
                "declared_price": int(car["new_price"] * 0.6), "down_payment":
                    int(car["new_price"] * 0.2), "term_months": 36, "annual_rate": "0.06"}
            status, raw = self.call("POST", "/v1/credit-limits", "underwriter", application)
            if status == 201:
                self.decided.append(json.loads(raw)["id"])
        elif draw < 0.80:
            kind = "batch"
            status, _ = self.call("POST", "/v1/valuations/batch", "dealer",
                                  {"vehicles": self.random.sample(self.pool, 20)})
        else:
            kind = "strategy"
            path = self.random.choice(["/v1/strategies/default",
                                       "/v1/strategies/default/versions/1"])
            status, _ = self.call("GET", path, "pricing_analyst")
        self.out.append((kind, status, time.perf_counter() - started))

    def run(self) -> None:
        while time.perf_counter() < self.until:
            try:
                self.one()
            except OSError:
                self.out.append(("connection", 0, 0.0))


def percentiles(seconds: list[float]) -> dict[str, float]:
    if len(seconds) < 2:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1e3, 1), "p99_ms": round(cuts[98] * 1e3, 1)}


def web_workers_rss(master: int) -> list[float]:
    """RSS (MiB) of gunicorn's web workers (its other children, job workers, excluded)."""
    out = subprocess.run(["ps", "-o", "pid=,rss=,args=", "--ppid", str(master)],
                         capture_output=True, text=True, check=False).stdout
    return [int(line.split()[1]) / 1024 for line in out.splitlines()
            if "gunicorn" in line]


@click.command()
@click.option("--seconds", default=60, show_default=True)
@click.option("--concurrency", default=16, show_default=True)
@click.option("--warmup", default=10, show_default=True, help="seconds of traffic before the "
                                                               "first memory reading")
def main(seconds: int, concurrency: int, warmup: int) -> None:
    url = fresh_database()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    settings = Config(DATABASE_URL=url, INSTANCE_PATH=work)
    engine = db.make_engine(url)
    with Session(engine) as session, session.begin():
        made = {role: keys.create_key(session, role, f"soak-{role}",
                                      "D1" if role == "dealer" else None,
                                      settings.api_key_secret())
                for role in ("dealer", "underwriter", "pricing_analyst")}
    headers = {role: {"Authorization": f"Bearer {key}"} for role, key in made.items()}
    port = load.free_port()
    env = {**os.environ, "DATABASE_URL": url, "INSTANCE_PATH": str(work),
           "MODEL_ROOT": str(load.ROOT / "models"), "MODEL_NAME": "demo", "LOG_LEVEL": "WARNING",
           "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "2", "JOB_WORKERS": "0",
           "RATE_LIMITS": load.UNLIMITED}
    server = subprocess.Popen([str(load.BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                              cwd=load.ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    pool = cars(500, seed=21)
    results: list[tuple[str, int, float]] = []
    decided: list[str] = []
    try:
        load.wait_for(f"http://127.0.0.1:{port}/ready")
        warm_until = time.perf_counter() + warmup
        warm = [Traffic(port, headers, pool, 1000 + i, warm_until, [], [])
                for i in range(concurrency)]
        threads = [threading.Thread(target=t.run) for t in warm]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rss_start = web_workers_rss(server.pid)
        until = time.perf_counter() + seconds
        clients = [Traffic(port, headers, pool, i, until, results, decided)
                   for i in range(concurrency)]
        threads = [threading.Thread(target=t.run) for t in clients]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        rss_end = web_workers_rss(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    with engine.connect() as conn:
        found = conn.execute(sqlalchemy.text(
            "SELECT count(*) FROM credit_decisions WHERE id = ANY(:ids)"),
            {"ids": decided}).scalar_one()
    engine.dispose()
    errors = [(k, s) for k, s, _ in results if EXPECTED.get(k) != s]
    by_kind = {}
    for kind in EXPECTED:
        lat = [d for k, s, d in results if k == kind]
        by_kind[kind] = {"requests": len(lat), **percentiles(lat)}
    growth = [(e - s) / s for s, e in zip(rss_start, rss_end, strict=False)]
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1), "concurrency": concurrency, "warmup_s": warmup,
        "requests": len(results), "rps": round(len(results) / elapsed, 1),
        "errors": len(errors), "error_kinds": sorted({f"{k} {s}" for k, s in errors}),
        **percentiles([d for _, _, d in results]), "by_kind": by_kind,
        "worker_rss_mib_start": [round(x, 1) for x in rss_start],
        "worker_rss_mib_end": [round(x, 1) for x in rss_end],
        "worker_rss_growth_pct": [round(g * 100, 1) for g in growth],
        "decisions_201": len(decided), "decisions_found_in_db": found,
        "targets_met": {"errors_0": not errors, "rss_growth_under_10pct": all(
            g < 0.10 for g in growth), "every_201_stored": found == len(decided)},
        "python": sys.version.split()[0],
    }
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    click.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
