"""The loan book routes: import loans (JSON, CSV or Parquet) and read a loan with its
revaluation history. For risk officers (underwriter, admin), never dealers."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from .. import serving
from ..errors import InvalidInput
from ..services import loans
from ..store import db
from .auth import require
from .responses import json_response

loans_blp = Blueprint("loans", __name__, url_prefix="/v1/loans",
                      description="The loan book (risk officers).")
MAX_JSON_LOANS = 1_000


class LoansSchema(Schema):
    loans = fields.List(fields.Dict(), required=True,
                        validate=validate.Length(min=1, max=MAX_JSON_LOANS))


_LOANS = LoansSchema()  # built once per process


@loans_blp.route("")
class Loans(MethodView):
    @require("underwriter", "admin")
    @loans_blp.alt_response(200, description="rows, inserted, updated, failed, errors "
                                             "[{row, field, message}]")
    def post(self) -> Response:
        """Upsert loans by loan_id: JSON {"loans": [...]} (up to 1,000) or a tape upload
        (multipart field `file`, CSV or Parquet). Bad rows are reported with their row number
        (1 = the first loan) and field; good rows are kept."""
        upload = request.files.get("file")
        if upload is not None:
            frame = loans.read_tape(upload.read(), upload.filename or "tape.csv")
        else:
            frame = loans.frame_of_rows(_json_loans())
        report = loans.import_tape(current_app.extensions["db_sessions"], serving.predictor(),
                                   frame)
        return json_response(report, 200)


def _json_loans() -> list[dict[str, Any]]:
    data = request.get_json(silent=True)
    if data is None:
        raise InvalidInput('send JSON {"loans": [...]} or a tape in field `file`',
                           errors={"json": {"_schema": ["Invalid JSON body."]}})
    try:
        return list(_LOANS.load(data)["loans"])
    except ValidationError as exc:
        raise InvalidInput("invalid loans", errors={"json": exc.messages}) from exc


@loans_blp.route("/<loan_id>")
class Loan(MethodView):
    @require("underwriter", "admin")
    @loans_blp.alt_response(200, description="the loan, its car, its value at funding and its "
                                             "revaluations (newest first)")
    def get(self, loan_id: str) -> Response:
        """A loan with its revaluation history."""
        with db.session() as session:
            return json_response(loans.get(session, loan_id), 200)


def init_app(app: Flask) -> None:
    app.extensions["api"].register_blueprint(loans_blp)
