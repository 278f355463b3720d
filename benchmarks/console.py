"""Console page timings: server time of the main pages (Flask's test client in process: no
network, no browser), each against a hello-world page rendered from a template by a bare Flask
app in the same run. The simulation page is measured on a stored 100,000-application simulation:
its charts come from the report's aggregates and its table is one page read from the database.

    .venv/bin/python benchmarks/console.py [--applications 100000] [--repeat 30]

Writes benchmarks/results/console.json and prints a table (medians).
"""
from __future__ import annotations

import copy
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import click
from flask import Flask, render_template_string

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inprocess import interleaved  # noqa: E402
from simulation import applications  # noqa: E402

from strategies.document import default_strategy  # noqa: E402
from valuation import create_app  # noqa: E402
from valuation.config import Config  # noqa: E402
from valuation.services import keys, lifecycle, simulations  # noqa: E402
from valuation.services.keys import Principal  # noqa: E402
from valuation.store import db  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "console.json"
HELLO = "<!doctype html><html><body><h1>{{ title }}</h1></body></html>"


def hello_client():  # type: ignore[no-untyped-def]
    hello = Flask("hello")

    @hello.route("/")
    def index() -> str:
        return render_template_string(HELLO, title="hello")

    return hello.test_client()


def signed_in(app, key: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/signin").text)
    assert token is not None
    response = client.post("/console/signin", data={"api_key": key, "csrf_token": token.group(1)})
    assert response.status_code == 302, response.status_code
    return client


@click.command()
@click.option("--applications", "rows", default=100_000, show_default=True)
@click.option("--repeat", default=30, show_default=True)
def main(rows: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="console-bench-"))
    url = f"sqlite:///{folder / 'console.db'}"
    db.upgrade(url)
    app = create_app(Config(DATABASE_URL=url, INSTANCE_PATH=folder, MODEL_NAME="none",
                            RATE_LIMITS_ENABLED=False, LOG_LEVEL="WARNING"))
    with db.session_for(app) as session, session.begin():
        analyst_key = keys.create_key(session, "pricing_analyst", "bench-analyst")
    analyst = signed_in(app, analyst_key)
    analyst.get("/console/strategies")  # seeds the default strategy
    document = copy.deepcopy(default_strategy().raw)
    for segment in ("new_ice", "used_ice", "new_nev"):  # 5 points tighter: many limits move
        for row in document["ltv_max"][segment].values():
            for tier in row:
                row[tier] = round(float(row[tier]) - 0.05, 2)
    principal = Principal("bench-analyst", "pricing_analyst", "bench", None)
    with db.session_for(app) as session, session.begin():
        lifecycle.create_draft(session, principal, "default", document)
    started = time.perf_counter()
    with db.session_for(app) as session, session.begin():
        apps = applications(rows)
        ids = apps.index.map(lambda i: f"APP-{i:07d}").to_series().reset_index(drop=True)
        report = simulations.run(session, principal, "default", 2, apps, ids)
    simulate_s = time.perf_counter() - started
    pages = report["limit_changed"] // 25 + 1
    hello = hello_client()
    paths = {
        "strategies": "/console/strategies",
        "version (default strategy)": "/console/strategies/default/versions/1",
        "grid editor (draft)": "/console/strategies/default/versions/2/edit",
        "diff v1 -> v2": "/console/strategies/default/diff?from=1&to=2",
        f"simulation of {rows:,} applications, page 1":
            f"/console/strategies/default/simulations/{report['id']}",
        f"simulation of {rows:,} applications, page {pages // 2:,}":
            f"/console/strategies/default/simulations/{report['id']}?page={pages // 2}",
        "audit": "/console/audit",
    }
    results = []
    for label, path in paths.items():
        response = analyst.get(path)
        assert response.status_code == 200, (path, response.status_code)
        ours, reference = interleaved(lambda p=path: analyst.get(p), lambda: hello.get("/"),
                                      repeat)
        results.append({"page": label, "path": path, "ms": round(ours * 1e3, 2),
                        "hello_ms": round(reference * 1e3, 3), "bytes": len(response.data),
                        "ratio_to_hello": round(ours / reference, 1)})
    out = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "applications": rows,
           "changed_rows": report["limit_changed"], "simulate_seconds": round(simulate_s, 2),
           "repeat": repeat, "pages": results}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    click.echo(f"simulation of {rows:,} applications stored in {simulate_s:.1f} s "
               f"({report['limit_changed']:,} changed decisions)")
    click.echo("| page | server time (median) | hello world | ratio | page size |")
    click.echo("|---|---|---|---|---|")
    for r in results:
        click.echo(f"| {r['page']} | {r['ms']:.1f} ms | {r['hello_ms']:.2f} ms | "
                   f"{r['ratio_to_hello']:.0f}x | {r['bytes'] / 1024:.0f} KiB |")


if __name__ == "__main__":
    main()
