"""Vehicle valuation and pricing-strategy service: `create_app` builds the Flask app.

The top of the package is the application shell: the factory, `config` (the one place that
reads the environment), `errors` (domain errors and the one JSON error shape), `logs` (log
lines with their request id), `serving` (the model loaded once per process) and `cli`. Below it
the wings, imported downward only: `http -> services -> model, store -> strategies`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from .config import Config


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    """The application factory: a table of contents of `init_app` calls."""
    from . import clock, console, errors, logs, serving
    from .http import (
        auth,
        credit,
        dealer_risk,
        docs,
        health,
        json_bodies,
        loans,
        metrics,
        models,
        monitoring,
        rate_limits,
        request_ids,
        strategies,
        valuation_jobs,
        valuations,
    )
    from .instance import api_key_secret
    from .store import db

    settings = config if isinstance(config, Config) else Config.from_env()
    app = Flask(__name__, instance_path=str(settings.INSTANCE_PATH))
    app.config.update(settings.as_flask())
    if isinstance(config, dict):
        app.config.update(config)
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    clock.set_zone(app.config["BUSINESS_TIMEZONE"])
    app.extensions["api_key_secret"] = api_key_secret(app.config["API_KEY_SECRET"],
                                                      Path(app.instance_path))
    request_ids.init_app(app)
    json_bodies.init_app(app)
    db.init_app(app)
    auth.init_app(app)
    rate_limits.init_app(app)
    serving.init_app(app)
    docs.init_app(app)  # the OpenAPI document first: the resource blueprints register on it
    valuations.init_app(app)
    valuation_jobs.init_app(app)
    models.init_app(app)
    credit.init_app(app)
    strategies.init_app(app)
    loans.init_app(app)
    monitoring.init_app(app)
    dealer_risk.init_app(app)
    console.init_app(app)  # the pricing console's pages, on the same services
    errors.init_app(app)
    health.init_app(app)
    metrics.init_app(app)
    return app
