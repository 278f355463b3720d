"""The server profile's attribution (benchmarks/profile_requests.py): the shares the closing
notes of the performance work quote are computed here, so they are checked on hand-written
py-spy stacks."""
from __future__ import annotations

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def profiles(benchmark_module):  # type: ignore[no-untyped-def]
    return benchmark_module("profile_requests")


def _frame(name: str, file: str) -> str:
    return f"{name} ({file}:1)"


def test_stdlib_time_is_charged_to_its_nearest_labelled_caller(profiles) -> None:  # type: ignore[no-untyped-def]
    ours = str(BENCHMARKS.parent / "valuation" / "http" / "request_ids.py")
    gunicorn = "/venv/site-packages/gunicorn/workers/sync.py"
    stdlib = "/usr/lib/python3.11/socket.py"
    uuid = "/usr/lib/python3.11/uuid.py"
    lines = [
        # gunicorn's own line: 5 samples; its socket call: 3 samples, charged to gunicorn
        f"{_frame('SyncWorker.handle', gunicorn)} 5",
        f"{_frame('SyncWorker.handle', gunicorn)};{_frame('socket.accept', stdlib)} 3",
        # our function called from gunicorn: ours, 2 samples; the uuid4 it calls: ours, 4
        f"{_frame('SyncWorker.handle', gunicorn)};{_frame('assign', ours)} 2",
        f"{_frame('SyncWorker.handle', gunicorn)};{_frame('assign', ours)};"
        f"{_frame('uuid4', uuid)} 4",
        # nothing labelled on the stack: other
        f"{_frame('main', stdlib)} 1",
        "not a stack line",
    ]
    total, functions = profiles.tally(lines, lambda frames: True)
    rate = profiles.RATE
    assert total == {"gunicorn": 5 / rate, "gunicorn via stdlib": 3 / rate, "ours": 2 / rate,
                     "ours via stdlib": 4 / rate, "other": 1 / rate}
    assert functions == [((ours, 0, "assign"), 6 / rate)]


def test_the_report_adds_a_librarys_stdlib_time_to_it(profiles, capsys) -> None:  # type: ignore[no-untyped-def]
    total = {"gunicorn": 0.5, "gunicorn via stdlib": 0.25, "ours": 0.25}
    profiles.report(total, [], 1_000, 0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["gunicorn", "0.750", "ms", "75.0%"]
    assert "(of which 0.250 ms in the stdlib it called)" in lines[0]
    assert lines[1].split() == ["ours", "0.250", "ms", "25.0%"]


def test_the_libraries_only_stand_in_charges_its_driver_calls_to_the_driver(profiles) -> None:  # type: ignore[no-untyped-def]
    """benchmarks/library_floor.py calls sqlite3 (C code py-spy cannot see) through one-line
    functions named as SQLAlchemy's: their samples are the driver's; its other lines, and the
    stdlib they call, are the stand-in's glue."""
    floor = str(BENCHMARKS / "library_floor.py")
    flask = "/venv/site-packages/flask/app.py"
    hmac = "/usr/lib/python3.11/hmac.py"
    lines = [f"{_frame('Flask.dispatch_request', flask)};{_frame('Floor.caller', floor)};"
             f"{_frame('do_fetch', floor)} 7",
             f"{_frame('Flask.dispatch_request', flask)};{_frame('Floor.credit_limit', floor)};"
             f"{_frame('do_commit', floor)} 5",
             f"{_frame('Flask.dispatch_request', flask)};{_frame('Floor.caller', floor)};"
             f"{_frame('digest', hmac)} 2",
             f"{_frame('Flask.dispatch_request', flask)};{_frame('Floor.caller', floor)} 1"]
    total, _ = profiles.tally(lines, lambda frames: True)
    rate = profiles.RATE
    assert total == {"database driver": 12 / rate, "stand-in glue via stdlib": 2 / rate,
                     "stand-in glue": 1 / rate}


def test_the_stored_texts_writer_is_charged_to_json(profiles) -> None:  # type: ignore[no-untyped-def]
    """`valuations.json_text` is one line around orjson's C code, which py-spy cannot see: its
    samples are json's, not ours; the function that calls it stays ours."""
    services = str(BENCHMARKS.parent / "valuation" / "services" / "valuations.py")
    lines = [f"{_frame('_row', services)};{_frame('json_text', services)} 6",
             f"{_frame('_row', services)} 2"]
    total, functions = profiles.tally(lines, lambda frames: True)
    rate = profiles.RATE
    assert total == {"json": 6 / rate, "ours": 2 / rate}
    assert functions == [((services, 0, "_row"), 2 / rate)]
