"""marshmallow schemas at the API edge; the vehicle schema is generated from the canonical record."""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, missing, types, validate, validates_schema

from strategies.document import MAX_MONEY

from .. import clock
from ..model.record import (
    ENUMS,
    FIELDS,
    IMPOSSIBLE_MILEAGE,
    MAX_KM_PER_YEAR,
    NOT_A_DATE,
    REGISTRATION_AFTER_VALUATION,
    REGISTRATION_IN_FUTURE,
    VALUATION_IN_FUTURE,
    Field,
    model_date,
    normalize_date,
)

DATE_PATTERN = r"^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$"


class PartialDate(fields.Field):
    """A date as YYYY-MM-DD, YYYY-MM or YYYY; loads to that text, precision kept (the model
    values a partial date mid-period, hard rules take its earliest day)."""

    default_error_messages = {"invalid": NOT_A_DATE}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise self.make_error("invalid")
        text = normalize_date(str(value))
        if text is None:
            raise self.make_error("invalid")
        return text

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


def _field(spec: Field) -> fields.Field:
    meta = {"description": spec.doc} if spec.doc else {}
    kwargs: dict[str, Any] = dict(required=spec.required, allow_none=not spec.required,
                                  metadata=meta)
    bounds = []
    if spec.minimum is not None or spec.maximum is not None:
        bounds.append(validate.Range(min=spec.minimum, max=spec.maximum))
    if spec.positive:
        bounds.append(validate.Range(min=0, min_inclusive=False))
    if spec.kind == "str":
        return fields.String(validate=validate.Length(min=1, max=100), **kwargs)
    if spec.kind == "enum":
        return fields.String(validate=validate.OneOf(ENUMS[spec.name]), **kwargs)
    if spec.kind == "int":
        return fields.Integer(strict=True, validate=bounds, **kwargs)
    if spec.kind == "float":
        return fields.Float(allow_nan=False, validate=bounds, **kwargs)
    if spec.kind == "bool":
        return fields.Boolean(**kwargs)
    # documented as the text it takes (a bare year may also come as a number)
    kwargs["metadata"] = {**meta, "type": "string", "pattern": DATE_PATTERN,
                          "example": "2022-03-01"}
    return PartialDate(**kwargs)


def check_dates_and_mileage(data: dict[str, Any], today: dt.date | None = None) -> None:
    """The cross-field rules of `record.validate_frame`, on the days the model takes, against
    `today` (default: the business date now)."""
    today = today or clock.today()
    reg = model_date(data["first_registration"]) if data.get("first_registration") else None
    val = model_date(data["valuation_date"]) if data.get("valuation_date") else today
    if reg and reg > today:
        raise ValidationError(REGISTRATION_IN_FUTURE, "first_registration")
    if val > today:
        raise ValidationError(VALUATION_IN_FUTURE, "valuation_date")
    if reg and reg > val:
        raise ValidationError(REGISTRATION_AFTER_VALUATION, "first_registration")
    if reg and data.get("mileage_km") is not None:
        years = max((val - reg).days / 365.25, 1 / 12)
        if data["mileage_km"] / years > MAX_KM_PER_YEAR:
            raise ValidationError(IMPOSSIBLE_MILEAGE, "mileage_km")


class _VehicleChecks(Schema):
    @validates_schema
    def check_dates_and_mileage(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_dates_and_mileage(data)


_VEHICLE_FIELDS = {f.name: _field(f) for f in FIELDS if f.name != "price"}
VehicleSchema = _VehicleChecks.from_dict(_VEHICLE_FIELDS, name="Vehicle")
ValuationRequestSchema = _VehicleChecks.from_dict(
    dict(_VEHICLE_FIELDS,
         vin=fields.String(validate=validate.Length(min=11, max=17), allow_none=True,
                           metadata={"description": "vehicle identification number"}),
         external_ref=fields.String(validate=validate.Length(max=128), allow_none=True,
                                    metadata={"description": "the caller's own reference"})),
    name="ValuationRequest")

VEHICLE_REQUEST = ValuationRequestSchema()  # built once per process

NOT_PLAIN = object()  # what a plain loader answers for a value its field must judge itself
_EXACT = 2**53  # whole numbers a float holds exactly (larger ones: the field converts them)


def _in_bounds(checks: list[validate.Range]) -> Callable[[float], bool]:
    """`value` within every Range of `checks`, as `validate.Range` compares."""
    bounds = [(r.min, r.min_inclusive, r.max, r.max_inclusive) for r in checks]

    def within(value: float) -> bool:
        for lo, lo_in, hi, hi_in in bounds:
            if lo is not None and (value < lo if lo_in else value <= lo):
                return False
            if hi is not None and (value > hi if hi_in else value >= hi):
                return False
        return True
    return within


def _never(value: Any) -> Any:
    return NOT_PLAIN


def _date_loader(none: Any) -> Callable[[Any], Any]:
    def load(value: Any) -> Any:
        if value is None:
            return none
        return (normalize_date(value) or NOT_PLAIN) if type(value) is str else NOT_PLAIN
    return load


def _text_loader(none: Any, lengths: list[tuple[int, float]], choices: list[frozenset[Any]]
                 ) -> Callable[[Any], Any]:
    def load(value: Any) -> Any:
        if value is None:
            return none
        if type(value) is not str:
            return NOT_PLAIN
        for lo, hi in lengths:
            if not lo <= len(value) <= hi:
                return NOT_PLAIN
        for allowed in choices:
            if value not in allowed:
                return NOT_PLAIN
        return value
    return load


def _integer_loader(none: Any, within: Callable[[float], bool]) -> Callable[[Any], Any]:
    def load(value: Any) -> Any:
        if value is None:
            return none
        return value if type(value) is int and within(value) else NOT_PLAIN
    return load


def _float_loader(none: Any, within: Callable[[float], bool]) -> Callable[[Any], Any]:
    def load(value: Any) -> Any:
        if value is None:
            return none
        kind = type(value)
        if kind is float or (kind is int and -_EXACT <= value <= _EXACT):
            number = float(value)
            if math.isfinite(number) and within(number):
                return number
        return NOT_PLAIN
    return load


def _bool_loader(none: Any) -> Callable[[Any], Any]:
    def load(value: Any) -> Any:
        if value is None:
            return none
        return value if type(value) is bool else NOT_PLAIN
    return load


def plain_loader(field: fields.Field) -> Callable[[Any], Any]:
    """What `field.deserialize(value)` returns for a value of the field's own JSON type that
    its validators accept (a text for a text, a whole number for an integer, a number for a
    float, true or false, a date text, null where the field allows it), found without
    marshmallow's machinery; NOT_PLAIN for any other value, which the field is then left to
    convert or refuse with its own message. A field with validators or hooks other than
    these has no plain loader: its values are all NOT_PLAIN."""
    ranges = [v for v in field.validators if type(v) is validate.Range]
    lengths = [(v.min or 0, v.max if v.max is not None else math.inf)
               for v in field.validators if type(v) is validate.Length and v.equal is None]
    choices = [frozenset(v.choices) for v in field.validators if type(v) is validate.OneOf]
    if field.pre_load or field.post_load or (
            len(ranges) + len(lengths) + len(choices) != len(field.validators)):
        return _never
    none = None if field.allow_none else NOT_PLAIN
    if type(field) is PartialDate and not field.validators:
        return _date_loader(none)
    if type(field) is fields.String and not ranges:
        return _text_loader(none, lengths, choices)
    if type(field) is fields.Integer and field.strict and not lengths + choices:
        return _integer_loader(none, _in_bounds(ranges))
    if type(field) is fields.Float and not field.allow_nan and not lengths + choices:
        return _float_loader(none, _in_bounds(ranges))
    if type(field) is fields.Boolean and not field.validators:
        return _bool_loader(none)
    return _never


_REQUEST_FIELDS = tuple((name, field, plain_loader(field))
                        for name, field in VEHICLE_REQUEST.load_fields.items())


def load_vehicle(raw: Any, today: dt.date | None = None) -> dict[str, Any]:
    """`VEHICLE_REQUEST.load(raw)` for one request or one row of a JSON batch, several times
    quicker: each value of its field's own type goes through that field's plain loader (the
    same answer as the field, without marshmallow's machinery). A row that is not plainly valid
    (an unknown or a missing field, a value that is not plain, a cross-field rule broken) is
    loaded by the schema itself, which converts or refuses as always. A test holds the two to
    the same result on generated rows. `today`: the business date the batch is checked against
    (a batch reads the clock once, not once a row; default: the business date now)."""
    if type(raw) is dict:
        out: dict[str, Any] = {}
        try:
            for name, field, plain in _REQUEST_FIELDS:
                if name in raw:
                    value = plain(raw[name])
                    if value is NOT_PLAIN:
                        break
                    out[name] = value
                elif field.required or field.load_default is not missing:
                    break
            else:
                if len(out) == len(raw):
                    check_dates_and_mileage(out, today)
                    return out
        except ValidationError:
            pass
    return VEHICLE_REQUEST.load(raw)


class _QuickRequestLoad(Schema):
    def load(self, data: Any, *, many: bool | None = None, partial: Any = None,
             unknown: types.UnknownOption | None = None) -> Any:
        """One request as `load_vehicle` loads it (the same answer, several times quicker);
        anything else (many, partial, another `unknown`, a chosen subset of fields) as
        marshmallow loads it."""
        if (many is None and partial is None and unknown is None and not self.many
                and not self.partial and self.only is None and not self.exclude
                and self.unknown == RAISE):
            return load_vehicle(data)
        return super().load(data, many=many, partial=partial, unknown=unknown)


# `POST /v1/valuations`' schema: ValuationRequestSchema (the same name in the OpenAPI document),
# its one request loaded by `load_vehicle`
QuickValuationRequestSchema = type("ValuationRequest",
                                   (_QuickRequestLoad, ValuationRequestSchema), {})

MONEY = validate.Range(0, MAX_MONEY)


class CustomerSchema(Schema):
    id = fields.String(validate=validate.Length(min=1, max=128), allow_none=True,
                       metadata={"description": "a stable customer id: champion/challenger "
                                                "buckets hash it (else the car's VIN)"})
    score = fields.Integer(strict=True, validate=validate.Range(0, 1000), allow_none=True)
    tier = fields.String(validate=validate.Length(min=1, max=16), allow_none=True)
    monthly_income = fields.Integer(strict=True, required=True, validate=MONEY)
    monthly_debt_payments = fields.Integer(strict=True, load_default=0, validate=MONEY)

    @validates_schema
    def score_or_tier(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("score") is None and data.get("tier") is None:
            raise ValidationError("Give a score or a tier.", "score")


class DealerRefSchema(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    tier = fields.String(validate=validate.Length(min=1, max=16), allow_none=True)


class CreditLimitRequestSchema(Schema):
    application_id = fields.String(required=True, validate=validate.Length(min=1, max=128),
                                   metadata={"description": "idempotency key"})
    customer = fields.Nested(CustomerSchema, required=True)
    dealer = fields.Nested(DealerRefSchema, required=True)
    valuation_id = fields.String(validate=validate.Length(min=1, max=36), allow_none=True)
    vehicle = fields.Nested(VehicleSchema, allow_none=True,
                            metadata={"description": "an inline car, valued on the fly"})
    is_new = fields.Boolean(required=True)
    declared_price = fields.Integer(strict=True, required=True,
                                    validate=validate.Range(1, MAX_MONEY))
    down_payment = fields.Integer(strict=True, required=True, validate=MONEY)
    term_months = fields.Integer(strict=True, required=True, validate=validate.Range(1, 120))
    annual_rate = fields.Decimal(required=True, as_string=True,
                                 validate=validate.Range(0, 1))
    product = fields.String(validate=validate.Length(min=1, max=64), allow_none=True)

    @validates_schema
    def check(self, data: dict[str, Any], **kwargs: Any) -> None:
        if bool(data.get("valuation_id")) == bool(data.get("vehicle")):
            raise ValidationError("Give either valuation_id or vehicle.", "valuation_id")
        if data.get("down_payment", 0) > data.get("declared_price", 0):
            raise ValidationError("Down payment above the declared price.", "down_payment")


class DealerSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(max=200))
    tier = fields.String(validate=validate.Length(min=1, max=16), allow_none=True)
