"""Pricing-team routes: strategy versions, lifecycle, diff, audit, simulation,
champion/challenger experiments."""
from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from flask import Flask, Response, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from .. import serving
from ..errors import InvalidInput, NotFound
from ..services import (
    activation,
    application_csv,
    experiments,
    lifecycle,
    permissions,
    simulations,
    strategy_store,
)
from ..store import db
from .auth import require
from .responses import json_response

# versions are stored as 32-bit integers: a larger number names no version (404 / 422)
MAX_VERSION = 2**31 - 1
VERSION = validate.Range(min=1, max=MAX_VERSION)

blp = Blueprint("strategies", __name__, url_prefix="/v1/strategies",
                description="Strategy versions and their lifecycle (pricing team).")


class CommentSchema(Schema):
    comment = fields.String(required=True, validate=validate.Length(*lifecycle.COMMENT_LENGTH))


class ReviewSchema(CommentSchema):
    hash = fields.String(required=True, validate=validate.Length(min=8, max=80),
                         metadata={"description": "the content hash of the version you reviewed "
                                                  "(its `hash`); refused (412) if it differs"})


class ActivateSchema(ReviewSchema):
    effective_at = fields.AwareDateTime(load_default=None, default_timezone=dt.UTC)


class RollbackSchema(CommentSchema):
    to_version = fields.Integer(required=True, strict=True, validate=VERSION)


class DiffQuerySchema(Schema):
    from_ = fields.Integer(required=True, data_key="from", validate=VERSION)
    to = fields.Integer(required=True, validate=VERSION)


class ExperimentSchema(Schema):
    challenger_version = fields.Integer(required=True, strict=True, validate=VERSION)
    share_pct = fields.Integer(required=True, strict=True, validate=validate.Range(0, 50))
    mode = fields.String(required=True, validate=validate.OneOf(experiments.MODES))
    salt = fields.String(required=True, validate=validate.Length(min=1, max=64))


class SimulationSchema(Schema):
    candidate_version = fields.Integer(required=True, validate=VERSION)
    date_from = fields.Date(load_default=None, data_key="from")
    date_to = fields.Date(load_default=None, data_key="to")


_SIMULATION = SimulationSchema()  # built once per process


def _version_response(record: Any, status: int = 200, warnings: list[str] | None = None
                      ) -> Response:
    body = lifecycle.version_body(record)
    if warnings is not None:
        body["warnings"] = warnings
    return json_response(body, status, ETag=lifecycle.etag(record))


@blp.route("")
class Strategies(MethodView):
    @require(*permissions.STRATEGY_READ)
    @blp.alt_response(200, description="every strategy with its active version")
    def get(self) -> Response:
        """Every strategy name, its active version and any running experiment."""
        with db.session() as session, session.begin():
            strategy_store.seed_default(session)
            items = []
            for name in lifecycle.names(session):
                active = activation.active(session, name)
                items.append({"name": name, "active_version": active.version if active else None,
                              "experiment": experiments.body(experiments.current(session, name))})
        return json_response({"strategies": items})


@blp.route("/<name>")
class StrategyView(MethodView):
    @require(*permissions.STRATEGY_READ)
    @blp.alt_response(200, description="the active version and any challenger")
    def get(self, name: str) -> Response:
        """The active version (with its document) and any challenger."""
        with db.session() as session, session.begin():
            if name == strategy_store.DEFAULT_NAME:
                strategy_store.seed_default(session)
            active = activation.active(session, name)
            if active is None:
                raise NotFound(f"strategy {name!r} has no active version")
            return json_response({"active": lifecycle.version_body(active),
                          "experiment": experiments.body(experiments.current(session, name)),
                          "versions": [lifecycle.version_body(r, with_document=False)
                                       for r in lifecycle.versions(session, name)]})


@blp.route("/<name>/versions")
class Versions(MethodView):
    @require(*permissions.STRATEGY_EDIT)
    @blp.alt_response(201, description="the new draft; ETag header")
    @blp.alt_response(415, "DEFAULT_ERROR")  # a body neither JSON nor YAML
    def post(self, name: str) -> Response:
        """A new draft from a full strategy document (JSON, or YAML with
        Content-Type: application/yaml)."""
        document = lifecycle.parse_document(request.get_data(), request.content_type or "")
        with db.session() as session, session.begin():
            record, warnings = lifecycle.create_draft(session, g.principal, name, document)
            response = _version_response(record, 201, warnings)
        response.headers["Location"] = url_for("strategies.Version", name=name,
                                               version=record.version)
        return response


@blp.route("/<name>/versions/<int(min=1, max=2147483647):version>")
class Version(MethodView):
    @require(*permissions.STRATEGY_READ)
    @blp.alt_response(200, description="state, author, timestamps, document; ?format=yaml "
                                       "exports the document as YAML")
    def get(self, name: str, version: int) -> Response:
        """One version; `?format=yaml` (or Accept: application/yaml) exports its document."""
        with db.session() as session:
            record = lifecycle.get_version(session, name, version)
            if request.args.get("format") == "yaml" or \
                    "yaml" in request.headers.get("Accept", ""):
                text = yaml.safe_dump({"version": record.version,
                                       **lifecycle.document_of(record)},
                                      allow_unicode=True, sort_keys=False)
                return Response(text, mimetype="application/yaml",
                                headers={"ETag": lifecycle.etag(record)})
            return _version_response(record)

    @require(*permissions.STRATEGY_EDIT)
    @blp.alt_response(200, description="the draft; new ETag")
    @blp.alt_response(415, "DEFAULT_ERROR")  # a body neither JSON nor YAML
    def put(self, name: str, version: int) -> Response:
        """Replace a draft's document; If-Match with the ETag you read (428 without, 412 if
        stale)."""
        document = lifecycle.parse_document(request.get_data(), request.content_type or "")
        with db.session() as session, session.begin():
            record, warnings = lifecycle.update_draft(session, g.principal, name, version,
                                                      document, request.headers.get("If-Match"))
            session.flush()
            session.refresh(record)
            return _version_response(record, 200, warnings)


def _transition(name: str, version: int, action: str, payload: dict[str, Any]) -> Response:
    with db.session() as session, session.begin():
        if action == "submit":
            record = lifecycle.submit(session, g.principal, name, version, payload["comment"])
        elif action == "approve":
            record = lifecycle.approve(session, g.principal, name, version, payload["comment"],
                                       payload["hash"])
        elif action == "cancel":
            record = activation.cancel_schedule(session, g.principal, name, version,
                                                payload["comment"])
        else:
            record = activation.activate(session, g.principal, name, version, payload["comment"],
                                         payload["hash"], payload.get("effective_at"))
        session.flush()
        return _version_response(record)


@blp.route("/<name>/versions/<int(min=1, max=2147483647):version>/submit")
class Submit(MethodView):
    @require(*permissions.STRATEGY_EDIT)
    @blp.arguments(CommentSchema())
    @blp.alt_response(200, description="the version, submitted")
    def post(self, payload: dict[str, Any], name: str, version: int) -> Response:
        """Submit a draft for approval (comment required)."""
        return _transition(name, version, "submit", payload)


@blp.route("/<name>/versions/<int(min=1, max=2147483647):version>/approve")
class Approve(MethodView):
    @require(*permissions.STRATEGY_APPROVE)
    @blp.arguments(ReviewSchema())
    @blp.alt_response(200, description="the version, approved")
    def post(self, payload: dict[str, Any], name: str, version: int) -> Response:
        """Approve a submitted version with the content hash you reviewed; the approver must
        not be its author (403), a different hash is a 412."""
        return _transition(name, version, "approve", payload)


@blp.route("/<name>/versions/<int(min=1, max=2147483647):version>/activate")
class Activate(MethodView):
    @require(*permissions.STRATEGY_APPROVE)
    @blp.arguments(ActivateSchema())
    @blp.alt_response(200, description="the version, active (or scheduled)")
    def post(self, payload: dict[str, Any], name: str, version: int) -> Response:
        """Make an approved version (of `default`) the champion now, or at `effective_at`; an
        immediate activation cancels pending schedules and ends a running experiment."""
        return _transition(name, version, "activate", payload)


@blp.route("/<name>/versions/<int(min=1, max=2147483647):version>/cancel-schedule")
class CancelSchedule(MethodView):
    @require(*permissions.STRATEGY_APPROVE)
    @blp.arguments(CommentSchema())
    @blp.alt_response(200, description="the version, approved again")
    def post(self, payload: dict[str, Any], name: str, version: int) -> Response:
        """Cancel a scheduled activation; the version is approved again."""
        return _transition(name, version, "cancel", payload)


@blp.route("/<name>/rollback")
class Rollback(MethodView):
    @require(*permissions.STRATEGY_APPROVE)
    @blp.arguments(RollbackSchema())
    @blp.alt_response(200, description="the re-activated version")
    def post(self, payload: dict[str, Any], name: str) -> Response:
        """Re-activate an earlier approved version in one call."""
        with db.session() as session, session.begin():
            record = activation.rollback(session, g.principal, name, payload["to_version"],
                                         payload["comment"])
            session.flush()
            return _version_response(record)


@blp.route("/<name>/diff")
class Diff(MethodView):
    @require(*permissions.STRATEGY_READ)
    @blp.arguments(DiffQuerySchema(), location="query")
    @blp.alt_response(200, description="cell-level changes")
    def get(self, query: dict[str, Any], name: str) -> Response:
        """Cell-level diff of every grid and rule between two versions."""
        from strategies.diff import diff, render
        with db.session() as session:
            old = lifecycle.document_of(lifecycle.get_version(session, name, query["from_"]))
            new = lifecycle.document_of(lifecycle.get_version(session, name, query["to"]))
        changes = diff(old, new)
        return json_response({"from": query["from_"], "to": query["to"], "changes": changes,
                      "lines": render(changes)})


@blp.route("/<name>/audit")
class Audit(MethodView):
    @require(*permissions.STRATEGY_READ)
    @blp.alt_response(200, description="the append-only audit log")
    def get(self, name: str) -> Response:
        """Who did what, when, why, with the diff."""
        with db.session() as session:
            return json_response({"name": name, "entries": lifecycle.audit_log(session, name)})


@blp.route("/<name>/simulations")
class Simulations(MethodView):
    @require(*permissions.SIMULATE)
    @blp.alt_response(201, description="the simulation report")
    def post(self, name: str) -> Response:
        """Simulate a candidate version against the active one over stored decisions
        (JSON {candidate_version, from, to}) or an uploaded CSV of past applications
        (multipart: file, candidate_version)."""
        upload = request.files.get("file")
        raw = dict(request.form) if upload is not None else (request.get_json(silent=True) or {})
        try:
            params = _SIMULATION.load(raw)
        except ValidationError as exc:
            raise InvalidInput("invalid simulation request",
                               errors={"json": exc.messages}) from exc
        with db.session() as session, session.begin():
            if name == strategy_store.DEFAULT_NAME:
                strategy_store.seed_default(session)
            if upload is not None:
                apps, ids = application_csv.csv_applications(upload.read(), serving.predictor())
            else:
                apps, ids = simulations.stored_applications(session, params["date_from"],
                                                            params["date_to"])
            report = simulations.run(session, g.principal, name, params["candidate_version"],
                                     apps, ids)
        location = url_for("strategies.Simulation", name=name, sim_id=report["id"])
        return json_response(report, 201, Location=location)


@blp.route("/<name>/simulations/<sim_id>")
class Simulation(MethodView):
    @require(*permissions.SIMULATE)
    @blp.alt_response(200, description="the stored report")
    def get(self, name: str, sim_id: str) -> Response:
        """A stored simulation report."""
        with db.session() as session:
            return json_response(simulations.get(session, name, sim_id))


class ChangesQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(
        min=1, max=simulations.PER_PAGE_MAX))
    outcome_changed = fields.Boolean(load_default=False)


@blp.route("/<name>/simulations/<sim_id>/changes")
class SimulationChanges(MethodView):
    @require(*permissions.SIMULATE)
    @blp.arguments(ChangesQuerySchema(), location="query")
    @blp.alt_response(200, description="total, page, per_page, changes")
    def get(self, query: dict[str, Any], name: str, sim_id: str) -> Response:
        """The applications whose decision the simulation changed, a page at a time."""
        with db.session() as session:
            return json_response(simulations.changes(
                session, name, sim_id, query["page"], query["per_page"],
                query["outcome_changed"]))


@blp.route("/<name>/experiment")
class Experiment(MethodView):
    @require(*permissions.EXPERIMENT_RUN)
    @blp.arguments(ExperimentSchema())
    @blp.alt_response(200, description="the running experiment")
    def put(self, payload: dict[str, Any], name: str) -> Response:
        """Start (or replace) a champion/challenger experiment."""
        with db.session() as session, session.begin():
            record = experiments.start(session, g.principal, name, payload["challenger_version"],
                                       payload["share_pct"], payload["mode"], payload["salt"])
            return json_response(experiments.body(record))

    @require(*permissions.EXPERIMENT_RUN)
    @blp.alt_response(204, description="ended")
    def delete(self, name: str) -> Response:
        """End the running experiment."""
        with db.session() as session, session.begin():
            experiments.stop(session, g.principal, name)
        return Response(status=204)


@blp.route("/<name>/experiment/report")
class ExperimentReport(MethodView):
    @require(*permissions.EXPERIMENT_READ)
    @blp.alt_response(200, description="per arm: approve rate, mean limit, price-capped share")
    def get(self, name: str) -> Response:
        """The running experiment's results so far, per arm."""
        with db.session() as session:
            return json_response(experiments.report(session, name))


def init_app(app: Flask) -> None:
    app.extensions["api"].register_blueprint(blp)
    # the issue names both spellings of the report route
    app.add_url_rule("/v1/strategies/<name>/experiments/report",
                     view_func=ExperimentReport.as_view("experiments_report"))
