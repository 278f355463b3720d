"""gunicorn settings, taken from valuation.config (the one place that reads the environment)."""
import os
import shutil
import tempfile
from pathlib import Path

from valuation.config import Config

_settings = Config.from_env()

bind = _settings.WEB_BIND
workers = _settings.WEB_WORKERS
timeout = _settings.WEB_TIMEOUT
graceful_timeout = 30
# Each worker imports wsgi.py and so loads the model once; never per request.
preload_app = False
accesslog = "-"
errorlog = "-"
# The access log never carries the Authorization header or query strings with secrets. One
# JSON object per request, with the request id the response echoes (http/request_ids.py).
access_log_format = ('{"remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", "status": %(s)s, '
                     '"bytes": "%(b)s", "seconds": %(L)s, "request_id": "%({x-request-id}o)s"}')


def post_worker_init(worker) -> None:  # type: ignore[no-untyped-def]
    """Once the worker has loaded the app and the model, move what it holds out of the garbage
    collector's sight (gc.freeze): those objects live as long as the worker, and a full
    collection no longer walks them (5,000-car batch: 44.7 -> 42.9 ms, medians of 40)."""
    import gc

    gc.freeze()


# Prometheus multiprocess mode: every worker writes its metric values to files in this folder
# and /metrics adds them up (valuation/http/metrics.py). Set here, in the master, before any
# worker imports prometheus_client; an operator may name the folder.
_OWN_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="valuation-metrics-")


def on_starting(server) -> None:  # type: ignore[no-untyped-def]
    """An earlier run's files would add their counts to this one's."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:  # type: ignore[no-untyped-def]
    """A dead worker's live gauges (the model it served) stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


_job_workers: list = []


def when_ready(server) -> None:  # type: ignore[no-untyped-def]
    """Start JOB_WORKERS `valuation jobs work` processes beside the web workers: large CSV
    batches are valued there, not inside a request (services/valuation_jobs.py)."""
    import subprocess
    import sys

    for _ in range(_settings.JOB_WORKERS):
        _job_workers.append(subprocess.Popen(
            [sys.executable, "-m", "valuation.cli", "jobs", "work"]))
    if _job_workers:
        server.log.info("started %d valuation job worker(s)", len(_job_workers))


def on_exit(server) -> None:  # type: ignore[no-untyped-def]
    for process in _job_workers:  # each finishes its chunk and hands its job back
        process.terminate()
    for process in _job_workers:
        try:
            process.wait(timeout=graceful_timeout)
        except Exception:  # noqa: BLE001 - still running after the grace: stop it
            process.kill()
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
