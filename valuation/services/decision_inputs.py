"""The facts a credit decision consumes, gathered and checked: the valuation it rests on (recent,
dated on the decision date, in the strategy's currency, from the served model), the car's
facts as the record gives them (a partial registration date at its earliest day), the tiers,
and the business date. What was asserted and what the engine will derive are both stored."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from strategies.document import Strategy

from .. import clock
from ..errors import InvalidInput, NotFound, ServiceUnavailable
from ..model.predictor import Predictor
from ..model.record import earliest_date, validate_record
from ..store.tables import DealerRecord, ValuationRecord, core, utcnow
from . import valuations
from .keys import Principal

_VALUATIONS = core(ValuationRecord)
_STORED = select(_VALUATIONS.c.response_json, _VALUATIONS.c.request_json,
                 _VALUATIONS.c.created_at, _VALUATIONS.c.model_name, _VALUATIONS.c.vin
                 ).where(_VALUATIONS.c.id == bindparam("id"))


@dataclass(frozen=True)
class ValuationRules:
    """When a valuation may back a decision (settings VALUATION_MAX_AGE_DAYS and
    VALUATION_DATE_TOLERANCE_DAYS)."""

    max_age_days: int = 30
    date_tolerance_days: int = 3


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, errors={"json": {"valuation_id": [message]}})


def check_valuation(body: dict[str, Any], created_at: dt.datetime, model_name: str,
                    strategy: Strategy, predictor: Predictor | None, rules: ValuationRules,
                    decision_date: dt.date) -> None:
    """Refuse a valuation that is stale, dated away from the decision, in another currency or
    from a model that is not the one served."""
    if predictor is None:
        raise ServiceUnavailable("no valuation model is served: a decision needs one; see /ready")
    age = utcnow() - (created_at if created_at.tzinfo else created_at.replace(tzinfo=dt.UTC))
    if age > dt.timedelta(days=rules.max_age_days):
        raise _refuse(f"the valuation is {age.days} days old (at most {rules.max_age_days}): "
                      "value the car again")
    dated = dt.date.fromisoformat(body["valuation_date"])
    if abs((decision_date - dated).days) > rules.date_tolerance_days:
        raise _refuse(f"the valuation is dated {dated}, the decision {decision_date}: at most "
                      f"{rules.date_tolerance_days} days apart")
    if body["currency"] != strategy.currency:
        raise _refuse(f"the valuation is in {body['currency']}, the strategy in "
                      f"{strategy.currency}")
    if model_name != predictor.ref["name"]:
        raise _refuse(f"the valuation comes from model {model_name!r}, the served model is "
                      f"{predictor.ref['name']!r}")


def _valuation(session: Session, predictor: Predictor | None, principal: Principal,
               request: dict[str, Any], strategy: Strategy, rules: ValuationRules,
               decision_date: dt.date) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(valuation body, the car as requested, its VIN) after the usability checks."""
    if request.get("valuation_id"):
        record = session.connection().execute(
            _STORED, {"id": request["valuation_id"]}).first()  # read-only: Core, no ORM
        if record is None:
            raise NotFound(f"no valuation {request['valuation_id']}")
        body, car = json.loads(record.response_json), json.loads(record.request_json)
        check_valuation(body, record.created_at, record.model_name, strategy, predictor, rules,
                        decision_date)
        return body, car, record.vin
    _, text = valuations.create(session, predictor, principal, request["vehicle"])
    body, car = json.loads(text), request["vehicle"]
    check_valuation(body, utcnow(), body["model"]["name"], strategy, predictor, rules,
                    decision_date)
    return body, car, car.get("vin")


def _dealer_tier(session: Session, dealer: dict[str, Any]) -> str | None:
    if dealer.get("tier"):
        return str(dealer["tier"])
    record = session.get(DealerRecord, dealer["id"])
    return record.tier if record is not None else None


def build_inputs(session: Session, predictor: Predictor | None, principal: Principal,
                 request: dict[str, Any], strategy: Strategy,
                 rules: ValuationRules) -> dict[str, Any]:
    """Everything `decide` consumes, as plain JSON: what is stored and what replay uses."""
    decision_date = clock.today()
    body, car, vin = _valuation(session, predictor, principal, request, strategy, rules,
                                decision_date)
    # the stored request may come from a CSV batch (all text): type it as the record does
    typed, _ = validate_record(car, dt.date.fromisoformat(body["valuation_date"]))
    customer = request["customer"]
    usage = typed["usage"]
    return {
        "application": {
            "application_id": request["application_id"],
            "declared_price": request["declared_price"], "down_payment": request["down_payment"],
            "term_months": request["term_months"], "annual_rate": str(request["annual_rate"]),
            "is_new": request["is_new"], "energy_type": typed["energy_type"],
            "usage": usage,
            # hard rules take the worst case of a partial date: its earliest day
            "first_registration": str(earliest_date(str(car["first_registration"]))),
            "mileage_km": float(typed["mileage_km"]),
            "flood_damage": typed["flood_damage"] is True,
            "fire_damage": typed["fire_damage"] is True,
            "monthly_income": customer["monthly_income"],
            "monthly_debt_payments": customer.get("monthly_debt_payments", 0),
            "decision_date": str(decision_date),
            "customer_score": customer.get("score"), "customer_tier": customer.get("tier"),
            "dealer_tier": _dealer_tier(session, request["dealer"]),
            "product": request.get("product"),
        },
        "valuation": {"value": body["value"]["retail"],
                      "confidence_level": body["confidence"]["level"]},
        "valuation_id": body["id"], "model": body["model"],
        "subject": customer.get("id") or vin,
        "asserted": {"is_new": request["is_new"], "usage": usage,
                     "first_registration": str(car["first_registration"])},
    }
