"""Liveness and readiness: /health (process up) and /ready (model loaded, database reachable)."""
from __future__ import annotations

from flask import Blueprint, Flask, jsonify

from .. import serving
from ..store import db

blp = Blueprint("health", __name__)


@blp.get("/health")
def health():  # type: ignore[no-untyped-def]
    """The process is up."""
    return jsonify(status="ok")


@blp.get("/ready")
def ready():  # type: ignore[no-untyped-def]
    """Ready to serve: the model is loaded and the database answers at the migrations' head;
    503 otherwise."""
    model = serving.predictor()
    database = db.status()
    body = {
        "status": "ok" if model is not None and database == "ok" else "unavailable",
        "model": model.ref if model is not None else None,
        # open to anyone: no error text (it names the registry); the start-up log has it
        "model_error": None if model is not None else "no model loaded (see the server log)",
        "database": database,
    }
    return jsonify(body), 200 if body["status"] == "ok" else 503


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
