"""/metrics under gunicorn with 2 workers: one scrape sums every worker's counts."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from valuation.config import CHECKOUT
from valuation.services import keys as api_keys
from valuation.store import db

from .test_valuations import CAR

BATCH = {"vehicles": [CAR, dict(CAR, energy_type="bev", battery_soh_pct=91), {"brand": "x"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, path: str, key: str | None = None, body: dict | None = None
         ) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def sample(text: str, metric: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{metric}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


@pytest.fixture
def server(tmp_path: Path, model_root: Path):
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    db.upgrade(url)
    from sqlalchemy.orm import Session

    engine = db.make_engine(url)
    with Session(engine) as session, session.begin():
        key = api_keys.create_key(session, "dealer", "metrics-dealer", "D1")
    engine.dispose()
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    env = {**os.environ, "DATABASE_URL": url, "MODEL_ROOT": str(model_root),
           "MODEL_NAME": "tiny", "INSTANCE_PATH": str(tmp_path), "WEB_BIND": f"127.0.0.1:{port}",
           "WEB_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "LOG_LEVEL": "WARNING", "JOB_WORKERS": "0"}
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                "wsgi:app"], cwd=CHECKOUT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if call(base, "/ready")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not become ready in 60 s")
        yield base, key, metrics_dir
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_scrape_sums_both_workers(server) -> None:
    base, key, metrics_dir = server
    singles = batches = misses = 0
    # rounds of concurrent requests until both workers have served some (which worker accepts
    # a connection is the kernel's choice: one fast worker may take a whole round)
    for _ in range(20):
        jobs = [("/v1/valuations", CAR)] * 6 + [("/v1/valuations/batch", BATCH)] * 2
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda job: call(base, job[0], key, job[1])[0], jobs))
            missed = list(pool.map(lambda _: call(base, "/v1/valuations/nope", key)[0],
                                   range(3)))
        assert codes == [201] * 6 + [200] * 2 and missed == [404] * 3
        singles, batches, misses = singles + 6, batches + 2, misses + 3
        # each worker keeps its counters in its own files
        writers = {p.name.rsplit("_", 1)[1] for p in metrics_dir.glob("counter_*.db")}
        if len(writers) == 2:
            break
    assert len(writers) == 2, writers
    for _ in range(4):  # every scrape, whichever worker answers it, sees the same totals
        status, raw = call(base, "/metrics")
        text = raw.decode()
        assert status == 200
        assert sample(text, "http_requests_total", endpoint="valuations.Valuations",
                      method="POST", status="201") == singles
        assert sample(text, "http_requests_total", endpoint="valuations.ValuationBatch",
                      status="200") == batches
        assert sample(text, "http_requests_total", endpoint="valuations.Valuation",
                      status="404") == misses
        assert sample(text, "http_request_seconds_count", endpoint="valuations.Valuations",
                      status="201") == singles
        # single petrol cars, and batches of one petrol and one electric car (and a bad row)
        assert sample(text, "valuations_total", segment="ice") == singles + batches
        assert sample(text, "valuations_total", segment="nev") == batches
        assert sample(text, "valuation_model_info", name="tiny", version="1") == 1


def test_decisions_are_counted_by_outcome_and_arm_once(client, keys) -> None:
    from prometheus_client import REGISTRY

    from .test_credit import APPLICATION

    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("credit_decisions_total",
                                         {"outcome": outcome, "arm": "champion"}) or 0.0

    before = {o: count(o) for o in ("approve", "refer", "decline")}
    first = client.post("/v1/credit-limits", json=APPLICATION, headers=keys["underwriter"])
    assert first.status_code == 201
    outcome = first.json["outcome"]
    again = client.post("/v1/credit-limits", json=APPLICATION, headers=keys["underwriter"])
    assert again.status_code == 200  # the stored decision: not a new one
    after = {o: count(o) for o in before}
    assert after == {**before, outcome: before[outcome] + 1}
