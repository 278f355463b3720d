"""Prometheus metrics at /metrics: request counts and latency per endpoint, valuations made."""
from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
LATENCY = Histogram("http_request_seconds", "HTTP request latency", ["endpoint", "method"])


def init_app(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        endpoint = request.endpoint or "unknown"
        REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        if "started" in g:
            LATENCY.labels(endpoint, request.method).observe(time.perf_counter() - g.started)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus exposition (open, no data)."""
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
