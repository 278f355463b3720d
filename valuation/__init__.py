"""Vehicle valuation and pricing-strategy service: `create_app` builds the Flask app."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from .config import Config


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    """The application factory: a table of contents of `init_app` calls."""
    from . import api, api_credit, api_strategies, db, docs, errors, health, metrics_http, serving

    settings = config if isinstance(config, Config) else Config.from_env()
    app = Flask(__name__, instance_path=str(settings.INSTANCE_PATH))
    app.config.update(settings.as_flask())
    if isinstance(config, dict):
        app.config.update(config)
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db.init_app(app)
    serving.init_app(app)
    api.init_app(app)
    api_credit.init_app(app)
    api_strategies.init_app(app)
    errors.init_app(app)
    health.init_app(app)
    docs.init_app(app)
    metrics_http.init_app(app)
    return app
