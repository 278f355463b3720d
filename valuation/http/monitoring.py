"""In-loan monitoring routes: start a revaluation run (asynchronous: a job worker runs it),
list and read runs, list and acknowledge alerts. For risk officers (underwriter, admin)."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, stream_with_context, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..services import monitoring, permissions
from ..store import db
from .auth import require
from .responses import json_response

monitoring_blp = Blueprint("monitoring", __name__, url_prefix="/v1/monitoring",
                           description="In-loan monitoring: runs and alerts (risk officers).")


class MonitoringRunSchema(Schema):
    as_of = fields.Date(required=True)
    engine = fields.String(load_default="pandas", validate=validate.OneOf(["pandas"]))


class RunQuerySchema(Schema):
    state = fields.String(validate=validate.OneOf(["queued", "running", "done", "failed"]))
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class AlertQuerySchema(Schema):
    grade = fields.Integer(validate=validate.Range(1, 5))
    action = fields.String(validate=validate.OneOf(
        ["none", "watch", "contact", "reinspect", "call_loan"]))
    dealer = fields.String(validate=validate.Length(min=1, max=64))
    segment = fields.String(validate=validate.Length(min=1, max=16))
    state = fields.String(validate=validate.OneOf(["open", "acknowledged", "cleared"]))
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class AcknowledgeSchema(Schema):
    comment = fields.String(required=True, validate=validate.Length(min=1, max=2000))


@monitoring_blp.route("/runs")
class Runs(MethodView):
    @require(*permissions.MONITORING)
    @monitoring_blp.arguments(RunQuerySchema(), location="query")
    @monitoring_blp.alt_response(200, description="total, page, per_page, runs")
    def get(self, query: dict[str, Any]) -> Response:
        """Runs, newest first, each without its summary (read one run for that); filter by
        state."""
        with db.session() as session:
            return json_response(monitoring.list_runs(
                session, state=query.get("state"), page=query["page"],
                per_page=query["per_page"]), 200)

    @require(*permissions.MONITORING)
    @monitoring_blp.arguments(MonitoringRunSchema())
    @monitoring_blp.alt_response(202, description="the queued run; `Location` names it")
    def post(self, payload: dict[str, Any]) -> Response:
        """Revalue every active loan at `as_of` (a job worker runs it: `valuation jobs work`,
        which gunicorn starts)."""
        with db.session() as session, session.begin():
            run = monitoring.create_run(session, g.principal.name, payload["as_of"],
                                        payload["engine"])
            body = monitoring.run_body(run)
        return json_response(body, 202, Location=url_for("monitoring.Run", run_id=body["id"]))


@monitoring_blp.route("/runs/<run_id>")
class Run(MethodView):
    @require(*permissions.MONITORING)
    @monitoring_blp.alt_response(200, description="state, progress, timings and summary")
    def get(self, run_id: str) -> Response:
        """A run: state (queued, running, done, failed), progress, timings and its summary
        (counts and balances by grade, segment and dealer; the LTV distribution)."""
        with db.session() as session:
            return json_response(monitoring.get_run(session, run_id), 200)


@monitoring_blp.route("/runs/<run_id>/results")
class RunResults(MethodView):
    @require(*permissions.MONITORING)
    @monitoring_blp.alt_response(200, description="text/csv: one line per loan, by loan id")
    @monitoring_blp.alt_response(409, description="the run is not done")
    def get(self, run_id: str) -> Response:
        """A finished run's loans as CSV: `loan_id, dealer_id, balance, value, lending, ltv`,
        the LTV and value changes since funding and since the previous run (ratios),
        `grade, action, rules` (codes separated by spaces) and `error` (a car that could not
        be valued)."""
        name, pieces = monitoring.results_csv(db.session, run_id)
        return Response(stream_with_context(pieces), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@monitoring_blp.route("/alerts")
class Alerts(MethodView):
    @require(*permissions.MONITORING)
    @monitoring_blp.arguments(AlertQuerySchema(), location="query")
    @monitoring_blp.alt_response(200, description="total, page, per_page, alerts")
    def get(self, query: dict[str, Any]) -> Response:
        """Alerts, worst and newest first; filter by grade, action, dealer, segment, state."""
        with db.session() as session:
            return json_response(monitoring.list_alerts(
                session, grade=query.get("grade"), action=query.get("action"),
                dealer_id=query.get("dealer"), segment=query.get("segment"),
                state=query.get("state"), page=query["page"], per_page=query["per_page"]), 200)


@monitoring_blp.route("/alerts/<int(min=1, max=2147483647):alert_id>/acknowledge")
class Acknowledge(MethodView):
    @require(*permissions.MONITORING)
    @monitoring_blp.arguments(AcknowledgeSchema())
    @monitoring_blp.alt_response(200, description="the alert")
    def post(self, payload: dict[str, Any], alert_id: int) -> Response:
        """Acknowledge an alert with a comment (audited)."""
        with db.session() as session, session.begin():
            body = monitoring.acknowledge(session, g.principal.name, alert_id,
                                          payload["comment"])
        return json_response(body, 200)


def init_app(app: Flask) -> None:
    app.extensions["api"].register_blueprint(monitoring_blp)
