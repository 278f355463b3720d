"""The OpenAPI document (/openapi.json, built by flask-smorest) and the interactive docs at /docs,
served offline from the swagger-ui-bundle package (no CDN)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, Flask, Response, send_from_directory, url_for
from flask_smorest import Api
from marshmallow import fields
from swagger_ui_bundle import swagger_ui_path

blp = Blueprint("docs", __name__)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Vehicle valuation API</title>
<link rel="stylesheet" href="{css}"></head>
<body><div id="swagger-ui"></div>
<script src="{js}"></script>
<script>SwaggerUIBundle({{url: "{spec}", dom_id: "#swagger-ui"}});</script>
</body></html>"""


@blp.get("/docs")
def docs() -> Response:
    """The Swagger UI page for /openapi.json."""
    page = PAGE.format(css=url_for("docs.asset", filename="swagger-ui.css"),
                       js=url_for("docs.asset", filename="swagger-ui-bundle.js"),
                       spec="/openapi.json")
    return Response(page, mimetype="text/html")


@blp.get("/docs/assets/<path:filename>")
def asset(filename: str) -> Response:
    return send_from_directory(swagger_ui_path, filename, max_age=86400)


def init_app(app: Flask) -> None:
    """Create the flask-smorest `Api` (the resource blueprints register on it) and /docs."""
    app.config.update(
        API_TITLE="Vehicle valuation and pricing strategy", API_VERSION="v1",
        OPENAPI_VERSION="3.0.3", OPENAPI_URL_PREFIX="/", OPENAPI_JSON_PATH="openapi.json")
    api = Api(app, spec_kwargs={"components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer"}}}, "security": [{"bearer": []}]})
    api.ma_plugin.converter.add_attribute_function(numeric_decimal_bounds)
    app.extensions["api"] = api
    app.register_blueprint(blp)


def numeric_decimal_bounds(converter: Any, field: fields.Field, ret: dict[str, Any],
                           **kwargs: Any) -> dict[str, Any]:
    """A Decimal field's `minimum` and `maximum` as JSON numbers: apispec writes them through
    the field, and a Decimal field that serialises as text made them strings, which is not
    valid OpenAPI (client generators and schemathesis refuse the operation)."""
    if not isinstance(field, fields.Decimal):
        return {}
    out: dict[str, Any] = {}
    for key in ("minimum", "maximum"):
        if isinstance(ret.get(key), str):
            value = Decimal(ret[key])
            out[key] = int(value) if value == value.to_integral_value() else float(value)
    return out
