"""Domain errors, each with the HTTP status the API answers with, and the one JSON error shape:
{"code": 422, "status": "Unprocessable Entity", "message": "...", "errors": {...}}."""
from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy.exc import DataError as StorageDataError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ValuationError(Exception):
    """Base of every error the service raises on purpose."""

    status = 400

    def __init__(self, message: str, *, errors: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class InvalidInput(ValuationError):
    """A request that fails validation; `errors` names the fields."""

    status = 422


class Unauthorized(ValuationError):
    status = 401


class Forbidden(ValuationError):
    status = 403


class NotFound(ValuationError):
    status = 404


class Conflict(ValuationError):
    status = 409


class UnsupportedMediaType(ValuationError):
    """A body in a format the route does not read (its Content-Type says which)."""

    status = 415


class PreconditionFailed(ValuationError):
    status = 412


class PreconditionRequired(ValuationError):
    status = 428


class ServiceUnavailable(ValuationError):
    status = 503


class DataError(ValuationError):
    """An input file or dataset is not what it should be."""

    status = 422


class ModelNotFound(ValuationError):
    """No such model name or version in the registry."""

    status = 404


class ModelMismatch(ValuationError):
    """A stored model does not match the feature contract or its card."""

    status = 503


def body(code: int, message: str, errors: dict | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "status": HTTPStatus(code).phrase, "message": message}
    if errors:
        out["errors"] = errors
    return out


_KEY_PREFIX = re.compile(r"Bearer (vk_[0-9a-f]{8})\.")


def _refused(code: int, message: str, errors: dict | None) -> None:
    """One log line per refused request: the status, the route, the message, the names of the
    fields in error and the public prefix of the key used (never the key, the body or the
    field values)."""
    match = _KEY_PREFIX.match(request.headers.get("Authorization", ""))
    fields = sorted(f"{where}.{name}" if isinstance(inner, dict) else str(where)
                    for where, inner in (errors or {}).items()
                    for name in (inner if isinstance(inner, dict) else [None]))
    log.info("refused %d %s %s: %s (fields %s; key %s)", code, request.method, request.path,
             message, ", ".join(fields) or "none", match.group(1) if match else None)


def init_app(app: Flask) -> None:
    """Render every error in the one shape; a 500 never shows internals."""

    @app.errorhandler(ValuationError)
    def domain(exc: ValuationError):  # type: ignore[no-untyped-def]
        _refused(exc.status, exc.message, exc.errors)
        return jsonify(body(exc.status, exc.message, exc.errors)), exc.status

    @app.errorhandler(HTTPException)
    def http(exc: HTTPException):  # type: ignore[no-untyped-def]
        code = exc.code or 500
        data = getattr(exc, "data", {}) or {}
        errors = data.get("messages")
        message = data.get("message") or (exc.description if code != 500 else "internal error")
        if code == 422 and errors and "json" in errors and not request.is_json \
                and request.content_length:
            # a JSON body sent as another type is not read at all: say that, not that every
            # field is missing
            code, errors = 415, None
            message = ("send the body as JSON with Content-Type: application/json (this "
                       f"request's Content-Type is {request.mimetype or 'missing'})")
        # the exception's own headers, e.g. `Allow` on a 405 (RFC 9110 requires it there)
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        _refused(code, str(message), errors)
        return jsonify(body(code, str(message), errors)), code, headers

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(exc: Exception):  # type: ignore[no-untyped-def]
        # the database is down or dropped the connection: nothing was stored; the caller may
        # retry (the driver's text, which may name hosts, goes to the log only)
        log.warning("database unavailable: %s", getattr(exc, "orig", None) or exc)
        return (jsonify(body(503, "the database is unavailable; try again shortly")), 503,
                {"Retry-After": "5"})

    @app.errorhandler(StorageDataError)
    def unstorable(exc: Exception):  # type: ignore[no-untyped-def]
        # a value the edge let through but the database cannot hold (out of its range): the
        # request is at fault, nothing was stored; the driver's text goes to the log only
        log.warning("value refused by the database: %s", getattr(exc, "orig", None) or exc)
        message = "a value is out of the range the service can store"
        _refused(422, message, None)
        return jsonify(body(422, message)), 422

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error")
        return jsonify(body(500, "internal error")), 500
