"""Load on loopback, bounded in time: gunicorn (2 sync workers) serving the service or a
hello-world Flask app, driven by wrk (8 connections); requests/s, p50 and p99, worker memory
and the time from start to /ready."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
CONNECTIONS, THREADS = 8, 2
# /ready answers from the first worker up; the other may still be loading the app and the
# model, and each loads its lazy parts (the strategy) on its first request: a server is
# loaded this long before it is measured or profiled
WARM_UP_SECONDS = 3
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
LOG_LINES = 100  # of a stopped server's log, in the error (a worker's traceback and the master's)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 120.0, server: subprocess.Popen | None = None
             ) -> float:
    """Seconds until `url` answers 200; an error at once if the `server` process has stopped."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"the server of {url} stopped before it answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


# rate-limit budgets a load test cannot exhaust (the limiter still runs and costs its time)
UNLIMITED = ",".join(f"{role}=100000000/minute" for role in
                     ("dealer", "underwriter", "pricing_analyst", "pricing_approver", "admin"))


@contextmanager
def gunicorn(target: str, env: dict[str, str], ready_path: str = "/health"
             ) -> Iterator[tuple[str, float, int]]:
    """Serve `target` (module:app) with 2 sync workers; yields (base url, seconds to ready,
    master pid). The same settings for every target. Its log goes to a file (a pipe nobody
    reads would stop the server once full); a failure while it serves, when the server has
    stopped, names the target, its exit status and the end of that log."""
    port = free_port()
    command = [str(BIN / "gunicorn"), "--workers", "2", "--worker-class", "sync",
               "--bind", f"127.0.0.1:{port}", "--log-level", "warning", target]
    with tempfile.TemporaryFile("w+", errors="replace") as log:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env},
                                   stdout=subprocess.DEVNULL, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            ready = wait_for(base + ready_path, server=process)
            yield base, ready, process.pid
        except Exception as exc:
            if process.poll() is None:
                raise
            log.seek(0)
            tail = "".join(log.readlines()[-LOG_LINES:])
            raise RuntimeError(f"gunicorn {target} on {base} stopped (exit status "
                               f"{process.returncode}); its log ends:\n{tail}") from exc
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def worker_rss_mib(master: int) -> list[float]:
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(master)], capture_output=True,
                         text=True, check=False).stdout.split()
    return [int(kb) / 1024 for kb in out]


def wrk_script(method: str, path: str, headers: dict[str, str], body: str | None,
               unique: bool = False) -> str:
    """A wrk Lua script; with `unique`, each request's body gets a unique value wherever the
    body says @UNIQUE@."""
    head = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
    if not unique:
        body_lua = "nil" if body is None else json.dumps(body)
        return (f'wrk.method = "{method}"\nwrk.path = "{path}"\nwrk.headers = {{{head}}}\n'
                f"wrk.body = {body_lua}\n")
    template = json.dumps(body).replace("%", "%%").replace("@UNIQUE@", "%s-%d")
    return (f"local counter = 0\nlocal threads = 0\n"
            f"function setup(thread) threads = threads + 1; thread:set('tid', threads) end\n"
            f"function request()\n  counter = counter + 1\n"
            f"  local body = string.format({template}, tostring(tid), counter)\n"
            f'  return wrk.format("{method}", "{path}", {{{head}}}, body)\nend\n')


def wrk(base: str, script: str, seconds: int) -> dict[str, float]:
    """Requests/s, p50 and p99 in ms, and the share of non-2xx answers."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        run = subprocess.run(["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s",
                              "--latency", "-s", file.name, base], capture_output=True,
                             text=True, check=False, timeout=seconds + 60)
    finally:
        os.unlink(file.name)
    if run.returncode != 0:
        raise RuntimeError(f"wrk on {base} exited {run.returncode}: {run.stderr or run.stdout}")
    out = run.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = {m.group(1): float(m.group(2)) * UNITS[m.group(3)]
               for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": latency["50"], "p99_ms": latency["99"],
            "non_2xx": int(bad.group(1)) / max(requests, 1) if bad else 0.0}


def have_wrk() -> bool:
    return shutil.which("wrk") is not None
