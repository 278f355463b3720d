"""The service with parts of `POST /v1/valuations` or `POST /v1/credit-limits` taken out, to
measure where a request's time goes under load (`make bench` serves it beside the real one;
never served to anyone):

    FLOOR_OMIT=model,store gunicorn benchmarks.floor:app

`model`: every car is valued once and its result reused (no features, no CatBoost); `store`:
nothing is written. What is left (gunicorn, Flask, flask-smorest and marshmallow, the API-key
check, the rate limiter, metrics, the JSON) is the floor under any valuation request.
`decision`: the first credit decision is made and stored, and every later request answers
with it (no reads, no decision, nothing written): the floor under a credit-limit request.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from valuation import create_app
from valuation.model.predictor import Predictor
from valuation.services import credit, valuations

OMIT = {part for part in os.environ.get("FLOOR_OMIT", "").split(",") if part}
_real_value_car = valuations.value_car
_valued: dict[str, dict[str, Any]] = {}


def _value_once(predictor: Predictor, car: dict[str, Any], today: dt.date | None = None
                ) -> dict[str, Any]:
    key = json.dumps(car, sort_keys=True, default=str)
    if key not in _valued:
        _valued[key] = _real_value_car(predictor, car, today)
    return _valued[key]


def _store_nothing(conn: Any, rows: list[dict[str, Any]]) -> None:
    return None


_real_decide = credit.create
_decided: list[tuple[str, str, bool]] = []


def _decide_once(*args: Any, **kwargs: Any) -> tuple[str, str, bool]:
    if not _decided:
        _decided.append(_real_decide(*args, **kwargs))
    return _decided[0]


if "decision" in OMIT:
    credit.create = _decide_once  # type: ignore[assignment]
if "model" in OMIT:
    valuations.value_car = _value_once  # type: ignore[assignment]
if "store" in OMIT:
    valuations.store = _store_nothing  # type: ignore[assignment]
app = create_app()
