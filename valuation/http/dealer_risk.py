"""Channel (dealer) risk routes: every dealer's risk, one dealer's, and tier changes through
maker-checker (one person proposes, an admin who is someone else applies or rejects)."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..services import dealer_risk, permissions
from ..store import db
from .auth import require
from .responses import json_response

risk_blp = Blueprint("dealer_risk", __name__, url_prefix="/v1/dealers",
                     description="Channel risk of dealers and tier changes (risk officers).")


class RiskQuerySchema(Schema):
    as_of = fields.Date(load_default=None)
    sort = fields.String(load_default="score", validate=validate.OneOf(dealer_risk.SORTS))


class ProposalSchema(Schema):
    tier = fields.String(required=True, validate=validate.Length(min=1, max=16))
    comment = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class DecisionSchema(Schema):
    comment = fields.String(required=True, validate=validate.Length(min=1, max=2000))


@risk_blp.route("/risk")
class DealersRisk(MethodView):
    @require(*permissions.DEALER_RISK)
    @risk_blp.arguments(RiskQuerySchema(), location="query")
    @risk_blp.alt_response(200, description="as_of, window_days, policy_version, dealers")
    def get(self, query: dict[str, Any]) -> Response:
        """Every dealer's channel risk: indicators, score, drivers, proposed tier."""
        with db.session() as session, session.begin():
            return json_response(dealer_risk.risk(session, query["as_of"], query["sort"]), 200)


@risk_blp.route("/<dealer_id>/risk")
class DealerRisk(MethodView):
    @require(*permissions.DEALER_RISK)
    @risk_blp.arguments(RiskQuerySchema(), location="query")
    @risk_blp.alt_response(200, description="the dealer's indicators, score, drivers, tier")
    def get(self, query: dict[str, Any], dealer_id: str) -> Response:
        """One dealer's channel risk."""
        with db.session() as session, session.begin():
            return json_response(dealer_risk.dealer_risk(session, dealer_id, query["as_of"]),
                                 200)


@risk_blp.route("/<dealer_id>/tier-changes")
class TierChanges(MethodView):
    @require(*permissions.DEALER_RISK)
    @risk_blp.alt_response(200, description="the dealer's tier changes, oldest first")
    def get(self, dealer_id: str) -> Response:
        """The dealer's proposed, applied and rejected tier changes."""
        with db.session() as session:
            return json_response({"changes": dealer_risk.changes(session, dealer_id)}, 200)

    @require(*permissions.DEALER_RISK)
    @risk_blp.arguments(ProposalSchema())
    @risk_blp.alt_response(201, description="the proposal, with the risk behind it")
    def post(self, payload: dict[str, Any], dealer_id: str) -> Response:
        """Propose a tier for the dealer (another person applies it)."""
        with db.session() as session, session.begin():
            body = dealer_risk.propose(session, g.principal, dealer_id, payload["tier"],
                                       payload["comment"])
        return json_response(body, 201)


@risk_blp.route("/tier-changes/<int(min=1, max=2147483647):change_id>/<any(apply, reject):verb>")
class TierChangeDecision(MethodView):
    @require(*permissions.DEALER_TIER_DECIDE)
    @risk_blp.arguments(DecisionSchema())
    @risk_blp.alt_response(200, description="the decided change")
    def post(self, payload: dict[str, Any], change_id: int, verb: str) -> Response:
        """Apply or reject a proposed tier change (not by its proposer); applied, the new
        tier is what credit decisions use for the dealer."""
        with db.session() as session, session.begin():
            body = dealer_risk.decide(session, g.principal, change_id, verb == "apply",
                                      payload["comment"])
        return json_response(body, 200)


def init_app(app: Flask) -> None:
    app.extensions["api"].register_blueprint(risk_blp)
