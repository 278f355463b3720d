"""Valuation routes: value one car, a batch (JSON or CSV), read a stored valuation."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from .. import clock, serving
from ..errors import InvalidInput
from ..services import valuation_jobs, valuations
from ..store import db
from . import metrics
from .auth import require
from .responses import json_response
from .schemas import QuickValuationRequestSchema, load_vehicle

log = logging.getLogger(__name__)

valuations_blp = Blueprint("valuations", __name__, url_prefix="/v1/valuations",
                           description="Value a car in its own condition (dealer apps).")


class ValueSchema(Schema):
    retail = fields.Integer(metadata={"description": "point estimate (the median)"})
    low = fields.Integer(metadata={"description": "calibrated P10"})
    high = fields.Integer(metadata={"description": "calibrated P90"})
    lending = fields.Integer(metadata={"description": "collateral value for LTV: the P10"})


class AdjustmentSchema(Schema):
    factor = fields.String()
    amount = fields.Integer()
    source = fields.String(metadata={"description": "learned, prior or learned+prior"})


class ValuationSchema(Schema):
    id = fields.String(allow_none=True, metadata={
        "description": "null when the database was unavailable (nothing stored; see warnings)"})
    valuation_date = fields.String()
    currency = fields.String()
    model = fields.Dict()
    value = fields.Nested(ValueSchema)
    confidence = fields.Dict()
    breakdown = fields.Dict(metadata={"description": "base + adjustments = value.retail"})
    residuals = fields.List(fields.Dict())
    warnings = fields.List(fields.String())
    vin = fields.String(allow_none=True)
    external_ref = fields.String(allow_none=True)
    created_at = fields.String()


class BatchSchema(Schema):
    vehicles = fields.List(fields.Dict(), required=True,
                           validate=validate.Length(min=1, max=valuations.MAX_JSON_BATCH))


_BATCH = BatchSchema()  # built once per process, as flask-smorest builds its decorators' ones


@valuations_blp.route("")
class Valuations(MethodView):
    @require("dealer", "underwriter")
    @valuations_blp.arguments(QuickValuationRequestSchema())
    @valuations_blp.alt_response(201, schema=ValuationSchema, description="the valuation")
    @valuations_blp.alt_response(200, schema=ValuationSchema,
                                 description="valued but not stored (database unavailable)")
    def post(self, payload: dict[str, Any]) -> Response:
        """Value one car: retail value, range, lending value, confidence, breakdown, residuals.
        201 once stored; while the database is unavailable, 200 with the value, `id: null` and
        a warning (nothing stored)."""
        row, body = valuations.value_request(serving.predictor(), g.principal, payload)
        metrics.valued([(payload.get("energy_type"), body["confidence"]["level"])])
        try:
            with db.valuations_engine().begin() as conn:  # one Core insert: no ORM session needed
                valuations.store(conn, [row])
        except db.UNAVAILABLE:
            log.warning("valuation not stored: the database is unavailable")
            return json_response(valuations.unstored(body), 200)
        location = url_for("valuations.Valuation", valuation_id=row["id"])
        return json_response(row["response_json"], 201, Location=location)


@valuations_blp.route("/<valuation_id>")
class Valuation(MethodView):
    @require("dealer", "underwriter", "admin")
    @valuations_blp.alt_response(200, schema=ValuationSchema, description="as first returned")
    def get(self, valuation_id: str) -> Response:
        """A stored valuation, exactly as first returned."""
        with db.session() as session:
            return json_response(valuations.get(session, g.principal, valuation_id), 200)


@valuations_blp.route("/batch")
class ValuationBatch(MethodView):
    @require("dealer", "underwriter")
    @valuations_blp.alt_response(200, description="one result per row, in row order")
    @valuations_blp.alt_response(202, description="a CSV above BATCH_JOB_ROWS rows became a "
                                                  "job: its status; `Location` names it")
    def post(self) -> Response:
        """Value up to 1,000 cars as JSON {"vehicles": [...]} or a CSV upload (multipart field
        `file`, up to 50,000 rows); bad rows get errors, the rest are valued and stored. A CSV
        of more than BATCH_JOB_ROWS rows (default 2,000) is valued in the background: 202 with
        the job (`GET /v1/valuation-jobs/{id}`)."""
        upload = request.files.get("file")
        if upload is not None:
            data = upload.read()
            frame = valuation_jobs.read_csv(data)
            if len(frame) > current_app.config["BATCH_JOB_ROWS"]:
                with db.session() as session, session.begin():
                    job = valuation_jobs.submit(session, g.principal, data, len(frame))
                location = url_for("valuation_jobs.ValuationJob", job_id=job["id"])
                return json_response(job, 202, Location=location)
            rows, row_errors = valuations.rows_of_csv(frame)
        else:
            rows, row_errors = _json_rows()
        results, stored = valuations.value_batch(serving.predictor(), g.principal, rows,
                                                 row_errors)
        metrics.valued((car.get("energy_type"), result["confidence"]["level"])
                       for result, car in zip(results, rows, strict=True)
                       if "errors" not in result)
        try:
            with db.valuations_engine().begin() as conn:
                valuations.store(conn, stored)
        except db.UNAVAILABLE:
            log.warning("batch of %d valuations not stored: the database is unavailable",
                        len(stored))
            results = [r if "errors" in r else valuations.unstored(r) for r in results]
            stored = []
        return json_response(_batch_text(results, stored))


def _batch_text(results: list[dict[str, Any]], stored: list[dict[str, Any]]) -> str:
    """The batch's answer as JSON text: {rows, valued, failed, results}. A stored valuation's
    result is its stored response text with the row number put first (the exact text that
    `GET /v1/valuations/{id}` returns, not dumped a second time); any other result is written
    as the stored ones are (`valuations.json_text`)."""
    texts = {row["id"]: row["response_json"] for row in stored}
    parts = [f'{{"row":{r["row"]},{texts[r["id"]][1:]}' if r.get("id") in texts
             else valuations.json_text(r) for r in results]
    ok = sum(1 for r in results if "errors" not in r)
    return (f'{{"rows":{len(results)},"valued":{ok},"failed":{len(results) - ok},'
            f'"results":[{",".join(parts)}]}}')


def _json_rows() -> tuple[list[dict[str, Any]], dict[int, Any]]:
    """Rows of a JSON batch, and the edge validation errors of bad rows."""
    data = request.get_json(silent=True)
    if data is None:
        raise InvalidInput("send JSON {\"vehicles\": [...]} or a CSV file in field `file`",
                           errors={"json": {"_schema": ["Invalid JSON body."]}})
    try:
        batch = _BATCH.load(data)
    except ValidationError as exc:
        raise InvalidInput("invalid batch", errors={"json": exc.messages}) from exc
    rows: list[dict[str, Any]] = []
    errors: dict[int, Any] = {}
    today = clock.today()
    for i, raw in enumerate(batch["vehicles"]):
        try:
            rows.append(load_vehicle(raw, today))
        except ValidationError as exc:
            rows.append({})
            errors[i] = exc.messages
    return rows, errors


def init_app(app: Flask) -> None:
    app.extensions["api"].register_blueprint(valuations_blp)
