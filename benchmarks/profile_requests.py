"""Where a request's time goes: cProfile over in-process requests (Flask test client, a SQLite
file, the demo model), each function's own time summed by library; a builtin (dict.get,
isinstance, ...) is charged to whoever called it.

    .venv/bin/python benchmarks/profile_requests.py valuations|credit [--requests 400]
"""
from __future__ import annotations

import cProfile
import itertools
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import inprocess
import load
import sqlalchemy

from valuation import create_app
from valuation.config import Config
from valuation.services import keys
from valuation.store import db

LIBRARIES = (("catboost", "CatBoost"), ("sqlalchemy", "SQLAlchemy"),
             ("sqlite3", "sqlite3 driver"), ("psycopg", "psycopg driver"),
             ("werkzeug", "werkzeug/Flask"), ("flask", "werkzeug/Flask"),
             ("marshmallow", "marshmallow/webargs"), ("webargs", "marshmallow/webargs"),
             (str(load.ROOT / "valuation"), "ours"), (str(load.ROOT / "strategies"), "ours"),
             ("numpy", "numpy"), ("pandas", "pandas"), ("json", "json"))


def library(file: str, name: str) -> str:
    if name == "raw_predict":
        return "CatBoost"  # one Python line around CatBoost's C++ prediction
    return next((label for key, label in LIBRARIES if key in file + name), "other")


def shares(stats: pstats.Stats) -> dict[str, float]:
    """Seconds of own time per library."""
    total: dict[str, float] = {}
    for (file, _, name), (_, _, own, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        label = library(file, name)
        if label == "other" and file == "~" and callers:
            for (c_file, _, c_name), caller in callers.items():
                c_label = library(c_file, c_name)
                total[c_label] = total.get(c_label, 0.0) + caller[2]
            continue
        total[label] = total.get(label, 0.0) + own
    return total


def requests(which: str) -> Callable[[], None]:
    """One request of `which` against a fresh app on a SQLite file."""
    work = Path(tempfile.mkdtemp(prefix="profile-"))
    url = f"sqlite:///{work / 'profile.db'}"
    db.upgrade(url)
    settings = Config(DATABASE_URL=url, INSTANCE_PATH=work, MODEL_NAME="demo",
                      MODEL_ROOT=load.ROOT / "models")
    app = create_app(settings)
    engine = db.make_engine(url)
    with sqlalchemy.orm.Session(engine) as session, session.begin():
        key = keys.create_key(session, "underwriter", "profiler", None, settings.api_key_secret())
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    first = client.post("/v1/valuations", json=inprocess.CAR, headers=headers)
    assert first.status_code == 201, first.json
    if which == "valuations":
        return lambda: _ok(client.post("/v1/valuations", json=inprocess.CAR, headers=headers))
    numbers = itertools.count()
    body = {"valuation_id": first.json["id"], "customer": {"score": 700, "monthly_income": 30000},
            "dealer": {"id": "D1", "tier": "T1"}, "is_new": False, "declared_price": 120000,
            "down_payment": 40000, "term_months": 36, "annual_rate": "0.05"}
    return lambda: _ok(client.post("/v1/credit-limits", headers=headers,
                                   json={**body, "application_id": f"p{next(numbers)}"}))


def _ok(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code in (200, 201), response.json


@click.command()
@click.argument("which", type=click.Choice(["valuations", "credit"]))
@click.option("--requests", "count", default=400, show_default=True)
@click.option("--top", default=0, show_default=True,
              help="Also list this many of our own functions, by own time.")
def main(which: str, count: int, top: int) -> None:
    call = requests(which)
    for _ in range(20):
        call()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    click.echo(f"{which}: median {statistics.median(times) * 1e3:.2f} ms per request "
               "(no profiler)")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        call()
    profiler.disable()
    profiler.dump_stats(str(Path(tempfile.gettempdir()) / f"profile-{which}.prof"))
    stats = pstats.Stats(profiler)
    total = shares(stats)
    whole = sum(total.values())
    for label, seconds in sorted(total.items(), key=lambda kv: -kv[1]):
        click.echo(f"{label:22s} {seconds / count * 1e3:7.3f} ms {seconds / whole:7.1%}")
    for (file, line, name), seconds in ours(stats)[:top]:
        click.echo(f"{seconds / count * 1e6:8.1f} us  {Path(file).name}:{line} {name}")


def ours(stats: pstats.Stats) -> list[tuple[tuple[str, int, str], float]]:
    """Our functions by own time, with the builtins they call charged to them."""
    own: dict[tuple[str, int, str], float] = {}
    for key, (_, _, seconds, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if library(key[0], key[2]) == "ours":
            own[key] = own.get(key, 0.0) + seconds
        elif key[0] == "~":
            for caller, figures in callers.items():
                if library(caller[0], caller[2]) == "ours":
                    own[caller] = own.get(caller, 0.0) + figures[2]
    return sorted(own.items(), key=lambda kv: -kv[1])


if __name__ == "__main__":
    main()
