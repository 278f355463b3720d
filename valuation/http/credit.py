"""Underwriting routes: credit limits (decide, read, replay) and the dealer table."""
from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, g, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.exc import IntegrityError

from .. import serving
from ..services import credit, dealers, permissions
from ..services.decision_inputs import ValuationRules
from ..store import db
from . import metrics
from .auth import require
from .responses import json_response
from .schemas import CreditLimitRequestSchema, DealerSchema

credit_blp = Blueprint("credit", __name__, url_prefix="/v1/credit-limits",
                       description="Recognised price, LTV and final credit limit (underwriting).")
dealers_blp = Blueprint("dealers", __name__, url_prefix="/v1/dealers",
                        description="Dealers and their risk tiers.")


def _decide(payload: dict[str, Any]) -> tuple[str, str, bool]:
    with db.session() as session, session.begin():
        rules = ValuationRules(current_app.config["VALUATION_MAX_AGE_DAYS"],
                               current_app.config["VALUATION_DATE_TOLERANCE_DAYS"])
        return credit.create(session, serving.predictor(), g.principal, payload, rules)


@credit_blp.route("")
class CreditLimits(MethodView):
    @require(*permissions.DECIDE)
    @credit_blp.arguments(CreditLimitRequestSchema())
    @credit_blp.alt_response(201, description="the decision (200: the stored one, same body)")
    def post(self, payload: dict[str, Any]) -> Response:
        """Decide a credit limit; the same application_id and body returns the stored decision,
        a different body is a 409."""
        try:
            decision_id, text, created = _decide(payload)
        except IntegrityError:
            # a concurrent request with the same application_id won: answer as it did
            decision_id, text, created = _decide(payload)
        if created:
            decision = json.loads(text)
            metrics.decided(decision["outcome"], decision["strategy"]["arm"])
        location = url_for("credit.CreditLimit", decision_id=decision_id)
        return json_response(text, 201 if created else 200, Location=location)


@credit_blp.route("/<decision_id>")
class CreditLimit(MethodView):
    @require(*permissions.DECISION_READ)
    @credit_blp.alt_response(200, description="the stored decision")
    def get(self, decision_id: str) -> Response:
        """A stored decision, exactly as first returned."""
        with db.session() as session:
            return json_response(credit.get(session, decision_id), 200)


@credit_blp.route("/<decision_id>/replay")
class CreditLimitReplay(MethodView):
    @require(*permissions.DECISION_READ)
    @credit_blp.alt_response(200, description="identical (true/false) and the differences")
    def post(self, decision_id: str) -> Response:
        """Recompute a decision from its stored inputs with the strategy version it used."""
        with db.session() as session:
            return json_response(credit.replay(session, decision_id), 200)


@dealers_blp.route("/<dealer_id>")
class Dealer(MethodView):
    @require("admin", "underwriter")
    @dealers_blp.alt_response(200, description="the dealer")
    def get(self, dealer_id: str) -> Response:
        """A dealer and its tier."""
        with db.session() as session:
            return json_response(dealers.get_dealer(session, dealer_id), 200)

    @require("admin")
    @dealers_blp.arguments(DealerSchema())
    @dealers_blp.alt_response(200, description="the dealer as stored")
    @dealers_blp.alt_response(409, description="a different tier for a dealer that has one")
    def put(self, payload: dict[str, Any], dealer_id: str) -> Response:
        """Create a dealer with its name and first tier (a tier of the active strategy), or
        rename one. A dealer that has a tier changes it only through a tier change
        (`POST /v1/dealers/{id}/tier-changes`, applied by another admin): a different tier
        is a 409; without `tier` it keeps its own."""
        with db.session() as session, session.begin():
            body = dealers.put_dealer(session, dealer_id, payload["name"], payload.get("tier"))
        return json_response(body, 200)


def init_app(app: Flask) -> None:
    api = app.extensions["api"]
    api.register_blueprint(credit_blp)
    api.register_blueprint(dealers_blp)
