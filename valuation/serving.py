"""The served model: loaded once per process at start-up, never per request."""
from __future__ import annotations

import logging

from flask import Flask, current_app

from .errors import ValuationError
from .model.predictor import Predictor
from .model.registry import Registry

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    registry = Registry(app.config["MODEL_ROOT"])
    app.extensions["registry"] = registry
    app.extensions["predictor"] = None
    try:
        app.extensions["predictor"] = Predictor.load(registry, app.config["MODEL_NAME"])
        log.info("model %s loaded", app.extensions["predictor"].ref)
    except ValuationError as exc:
        log.warning("no model served: %s (registry %s)", exc.message, registry.root)


def registry() -> Registry:
    return current_app.extensions["registry"]


def predictor() -> Predictor | None:
    return current_app.extensions["predictor"]

