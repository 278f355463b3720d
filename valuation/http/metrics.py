"""Prometheus metrics at /metrics: requests and latency by route and status, valuations by
segment and confidence level, credit decisions by outcome and strategy arm, the model served.

Under gunicorn each worker is a process with its own counters. When PROMETHEUS_MULTIPROC_DIR
is set (gunicorn.conf.py sets it, and empties it, before the workers start), prometheus-client
keeps every worker's values in files there and /metrics adds them up over all workers, so one
scrape sees the whole server. Without it (tests, `flask run`) the process's own registry is
served.
"""
from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterable

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from ..model.record import NEV_ENERGY

REQUESTS = Counter("http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
LATENCY = Histogram("http_request_seconds", "HTTP request latency",
                    ["endpoint", "method", "status"])
VALUATIONS = Counter("valuations_total", "cars valued (stored or not)",
                     ["segment", "confidence"])
DECISIONS = Counter("credit_decisions_total", "credit decisions made and stored",
                    ["outcome", "arm"])
MODEL = Gauge("valuation_model_info", "the model each live worker serves (1)",
              ["name", "version"], multiprocess_mode="livemax")


def valued(cars: Iterable[tuple[str | None, str]]) -> None:
    """Count valuations, given (energy_type, confidence level) each: by segment `nev` or
    `ice` and confidence `high`/`medium`/`low` (one increment per combination: a batch of
    5,000 costs a handful)."""
    tally = collections.Counter(("nev" if energy in NEV_ENERGY else "ice", level)
                                for energy, level in cars)
    for (segment, level), count in tally.items():
        VALUATIONS.labels(segment, level).inc(count)


def decided(outcome: str, arm: str) -> None:
    DECISIONS.labels(outcome, arm).inc()


def _exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def init_app(app: Flask) -> None:
    model = app.extensions.get("predictor")
    if model is not None:
        MODEL.labels(model.ref["name"], model.ref["version"]).set(1)

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        endpoint = request.endpoint or "unknown"
        status = str(response.status_code)
        REQUESTS.labels(endpoint, request.method, status).inc()
        if "started" in g:
            LATENCY.labels(endpoint, request.method, status).observe(
                time.perf_counter() - g.started)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus exposition, summed over every gunicorn worker (open, no data)."""
        return Response(_exposition(), mimetype=CONTENT_TYPE_LATEST)
