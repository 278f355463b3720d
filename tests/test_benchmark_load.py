"""The load harness (benchmarks/load.py) that every `make bench` figure goes through: a server
that stops is reported with its log, at once, instead of as a bare connection refused."""
from __future__ import annotations

import re
import time

import pytest


@pytest.fixture(scope="module")
def load(benchmark_module):  # type: ignore[no-untyped-def]
    return benchmark_module("load")


def test_a_server_that_cannot_boot_is_reported_with_its_log(load) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    with pytest.raises(RuntimeError) as failure:
        with load.gunicorn("benchmarks.no_such_module:app", {"JOB_WORKERS": "0"}):
            pass  # never reached: it does not boot
    message = str(failure.value)
    assert "gunicorn benchmarks.no_such_module:app on http://127.0.0.1:" in message
    assert re.search(r"stopped \(exit status [13]\)", message)  # halted: the worker cannot boot
    assert "Worker failed to boot" in message
    assert "No module named 'benchmarks.no_such_module'" in message
    assert time.perf_counter() - started < 60  # not wait_for's two minutes
