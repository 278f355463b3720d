"""Where a request's time goes: in-process requests (Flask test client, a SQLite file, the demo
model), each function's own time summed by library; a builtin (dict.get, isinstance, ...) or a
C extension's time is charged to the Python function that called it.

    .venv/bin/python benchmarks/profile_requests.py valuations|credit [--requests 400]
    .venv/bin/python benchmarks/profile_requests.py batch --requests 20 --sampler py-spy
    .venv/bin/python benchmarks/profile_requests.py valuations --sampler py-spy
    .venv/bin/python benchmarks/profile_requests.py valuations --server [--seconds 10]
    .venv/bin/python benchmarks/profile_requests.py valuations --server --omit model,store
    .venv/bin/python benchmarks/profile_requests.py credit --server --omit decision
    .venv/bin/python benchmarks/profile_requests.py valuations|credit --server --omit ours
    .venv/bin/python benchmarks/profile_requests.py hello --server

`--server` profiles the service as `make bench` loads it: gunicorn with 2 sync workers on a
SQLite file, wrk with 8 connections; py-spy samples both web workers while wrk runs, so
gunicorn's own share is seen and the test client's is not; `--omit` serves the floor app
(benchmarks/floor.py) instead, or with `ours` the requests made of the libraries' calls alone
(benchmarks/library_floor.py), and `hello` profiles the hello-world app every ratio is
measured against (under load only).

cProfile (the default) adds a fixed cost to every call it sees, so code made of many small
calls (ours) looks heavier than it is; `--sampler py-spy` samples the stacks instead (no
per-call cost; py-spy is installed into the virtual environment when missing).
"""
from __future__ import annotations

import collections
import contextlib
import cProfile
import itertools
import pstats
import re
import shutil
import statistics
import subprocess
import sys
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

LIBRARIES = (("gunicorn", "gunicorn"), ("catboost", "CatBoost"), ("sqlalchemy", "SQLAlchemy"),
             ("sqlite3", "database driver"), ("psycopg", "database driver"),
             ("werkzeug", "werkzeug/Flask"), ("flask", "werkzeug/Flask"),
             ("marshmallow", "marshmallow/webargs"), ("webargs", "marshmallow/webargs"),
             (str(load.ROOT / "valuation"), "ours"), (str(load.ROOT / "strategies"), "ours"),
             ("numpy", "numpy"), ("pandas", "pandas"), ("json", "json"),
             ("prometheus_client", "prometheus-client"), ("/limits/", "limits"),
             # the libraries-only stand-in's own lines (`--omit ours`)
             ("library_floor.py", "stand-in glue"))


# SQLAlchemy's one-line calls into the DBAPI driver (and benchmarks/library_floor.py's): a
# sampler charges the driver's C code to them
DRIVER_CALLS = ("do_execute", "do_executemany", "do_commit", "do_rollback", "do_close",
                "do_fetch")


def library(file: str, name: str) -> str:
    """The library a function belongs to (py-spy names methods Class.method)."""
    method = name.rpartition(".")[2]
    if method == "raw_predict":
        return "CatBoost"  # one Python line around CatBoost's C++ prediction
    if method == "json_text":
        return "json"  # one Python line around orjson's C (json.dumps for what it refuses)
    if ("sqlalchemy" in file or "library_floor" in file) and method in DRIVER_CALLS:
        return "database driver"
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
                      MODEL_ROOT=load.ROOT / "models", RATE_LIMITS=load.UNLIMITED)
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
    if which == "batch":  # make bench's JSON batch: 1,000 cars
        body = inprocess.batch_body(inprocess.demo_cars(1_000))
        return lambda: _ok(client.post("/v1/valuations/batch", data=body, headers={
            **headers, "Content-Type": "application/json"}))
    numbers = itertools.count()
    body = {"valuation_id": first.json["id"], "customer": {"score": 700, "monthly_income": 30000},
            "dealer": {"id": "D1", "tier": "T1"}, "is_new": False, "declared_price": 120000,
            "down_payment": 40000, "term_months": 36, "annual_rate": "0.05"}
    return lambda: _ok(client.post("/v1/credit-limits", headers=headers,
                                   json={**body, "application_id": f"p{next(numbers)}"}))


def _ok(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code in (200, 201), response.json


@click.command()
@click.argument("which", type=click.Choice(["valuations", "credit", "batch", "hello"]))
@click.option("--requests", "count", default=400, show_default=True)
@click.option("--top", default=0, show_default=True,
              help="Also list this many of our own functions, by own time.")
@click.option("--sampler", type=click.Choice(["cprofile", "py-spy"]), default="cprofile",
              show_default=True)
@click.option("--server", is_flag=True,
              help="Profile gunicorn's workers under wrk load instead (py-spy).")
@click.option("--seconds", default=10, show_default=True, help="With --server: the load.")
@click.option("--omit", default=None,
              type=click.Choice(["model", "store", "model,store", "decision", "ours"]),
              help="With --server: serve benchmarks/floor.py without these parts; ours: "
                   "benchmarks/library_floor.py.")
@click.option("--only-run", is_flag=True, hidden=True, help="Run the requests (under py-spy).")
def main(which: str, count: int, top: int, sampler: str, server: bool, seconds: int,
         omit: str | None, only_run: bool) -> None:
    if server and which == "batch":
        raise click.UsageError("the batch is profiled in process (wrk sends one request "
                               "body): leave out --server")
    if server or which == "hello":
        count, total, functions = served(which, seconds, omit)
        click.echo(f"{which}: {count} requests in {seconds} s under py-spy (2 workers)")
        report(total, functions, count, top)
        return
    call = requests(which)
    for _ in range(20):
        call()
    if only_run:
        measured(call, count)
        return
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    click.echo(f"{which}: median {statistics.median(times) * 1e3:.2f} ms per request "
               "(no profiler)")
    if sampler == "py-spy":
        total, functions = sampled(which, count)
    else:
        profiler = cProfile.Profile()
        profiler.enable()
        measured(call, count)
        profiler.disable()
        profiler.dump_stats(str(Path(tempfile.gettempdir()) / f"profile-{which}.prof"))
        stats = pstats.Stats(profiler)
        total, functions = shares(stats), ours(stats)
    report(total, functions, count, top)


def report(total: dict[str, float], functions: list[tuple[tuple[str, int, str], float]],
           count: int, top: int) -> None:
    """Each library's time per request and share, then our `top` functions."""
    whole = sum(total.values())
    merged: dict[str, float] = collections.defaultdict(float)
    for label, seconds in total.items():
        merged[label.removesuffix(VIA)] += seconds
    for label, seconds in sorted(merged.items(), key=lambda kv: -kv[1]):
        via = total.get(label + VIA, 0.0)
        through = f"  (of which {via / count * 1e3:.3f} ms in the stdlib it called)" if via else ""
        click.echo(f"{label:22s} {seconds / count * 1e3:7.3f} ms {seconds / whole:7.1%}{through}")
    for (file, line, name), seconds in functions[:top]:
        click.echo(f"{seconds / count * 1e6:8.1f} us  {Path(file).name}:{line} {name}")


def measured(call: Callable[[], None], count: int) -> None:
    """The profiled requests (py-spy's samples are kept only inside this function)."""
    for _ in range(count):
        call()


RATE = 1000  # py-spy samples a second
# --nonblocking: py-spy reads the stacks without stopping the process. Stopped 1,000 times a
# second (its default), a batch request took about ten times as long under the profiler, and
# the shares moved with it: pandas read 36 % of the batch blocking, 19 % not (2026-12-01).
SPY = ("record", "--nonblocking", "--format", "raw", "--full-filenames", "-r", str(RATE))
VIA = " via stdlib"
_FRAME = re.compile(r"(?P<name>.+) \((?P<file>.+):(?P<line>\d+)\)$")


def _py_spy() -> str:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(spy)


def sampled(which: str, count: int
            ) -> tuple[dict[str, float], list[tuple[tuple[str, int, str], float]]]:
    """Seconds per library and per function of ours, from py-spy's samples of the requests."""
    out = Path(tempfile.mkdtemp(prefix="py-spy-")) / "stacks.txt"
    # --idle: a request's waits count too (CatBoost's thread pool predicting a batch on every
    # core while this thread waits for it, a commit's sync); without it, py-spy drops them
    subprocess.run([_py_spy(), *SPY, "--idle", "-o", str(out), "--", sys.executable, __file__,
                    which, "--requests", str(count), "--only-run"],
                   check=True, capture_output=True)
    lines = out.read_text().splitlines()
    shutil.rmtree(out.parent, ignore_errors=True)
    return tally(lines, lambda frames: any(f.startswith("measured (") for f in frames))


def served(which: str, seconds: int, omit: str | None = None
           ) -> tuple[int, dict[str, float], list[tuple[tuple[str, int, str], float]]]:
    """(requests answered, seconds per library, per function of ours) of gunicorn's two web
    workers sampled by py-spy while wrk loads `which` for `seconds` (`omit`: serve
    benchmarks/floor.py without those parts, or "ours": benchmarks/library_floor.py; `which`
    hello: the hello-world app)."""
    import suite

    work = Path(tempfile.mkdtemp(prefix="profile-"))
    with contextlib.ExitStack() as stack:
        if which == "hello":
            base, _, master = stack.enter_context(load.gunicorn("benchmarks.hello:app", {}))
            script = suite._hello_script()
        else:
            target, env = (("benchmarks.library_floor:create_app()", {}) if omit == "ours"
                           else ("benchmarks.floor:app", {"FLOOR_OMIT": omit}) if omit
                           else ("wsgi:app", {}))
            service = stack.enter_context(suite._service(
                f"sqlite:///{work / 'profile.db'}", work, target, env))
            base, script, master = service["base"], service["scripts"][which], service["master"]
        got, lines = _sample_workers(master, base, script, seconds, work)
    shutil.rmtree(work, ignore_errors=True)
    return round(got["rps"] * seconds), *tally(lines, lambda frames: True)


def _sample_workers(master: int, base: str, script: str, seconds: int, work: Path
                    ) -> tuple[dict[str, float], list[str]]:
    """wrk's figures and py-spy's raw stacks of the master's web workers, after a warm-up."""
    load.wrk(base, script, load.WARM_UP_SECONDS)
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True,
                              check=False).stdout.split()
    workers = [pid for pid in children  # not the job worker
               if "gunicorn" in Path(f"/proc/{pid}/cmdline").read_text()]
    outs = [work / f"stacks-{pid}.txt" for pid in workers]
    spies = [subprocess.Popen([_py_spy(), *SPY, "-d", str(seconds), "-o", str(out), "-p", pid],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for pid, out in zip(workers, outs, strict=True)]
    got = load.wrk(base, script, seconds)
    for process in spies:
        process.wait()
    return got, [line for out in outs for line in out.read_text().splitlines()]


def tally(lines: list[str], keep: Callable[[list[str]], bool]
          ) -> tuple[dict[str, float], list[tuple[tuple[str, int, str], float]]]:
    """Seconds per library and per function of ours from py-spy's raw stacks (`keep`: which
    stacks count). Time in the standard library (sockets, logging, uuid, hmac, threading, ...)
    is charged to the nearest caller that belongs to a library or to us, under that caller's
    label with " via stdlib" added: gunicorn's socket calls are gunicorn's, our uuid4 is
    ours. Only stacks with no such caller stay "other"."""
    total: dict[str, float] = collections.defaultdict(float)
    functions: dict[tuple[str, int, str], float] = collections.defaultdict(float)
    for line in lines:
        stack, _, samples = line.rpartition(" ")
        frames = stack.split(";")
        if not samples.isdigit() or not keep(frames):
            continue  # start-up and warm-up
        seconds = int(samples) / RATE
        label, via, match = "other", "", None
        for depth, frame in enumerate(reversed(frames)):
            match = _FRAME.match(frame)
            file, name = (match["file"], match["name"]) if match else ("", frame)
            label = library(file, name)
            if label != "other":
                via = VIA if depth else ""
                break
        total[label + via] += seconds
        if label == "ours" and match:
            functions[(match["file"], 0, match["name"])] += seconds  # per function, all lines
    return dict(total), sorted(functions.items(), key=lambda kv: -kv[1])


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
