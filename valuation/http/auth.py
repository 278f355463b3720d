"""Route protection: a valid API key whose role may call the route (401 / 403 otherwise), then
the key's rate limit (429)."""
from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, request

from ..errors import Forbidden, ServiceUnavailable
from ..services.keys import Principal, RecentKeys, authenticate, keyed_digest, touch
from ..store import db
from .rate_limits import charge


def caller() -> Principal:
    """The principal of this request's key. While the database cannot be reached, a key that
    it accepted in the last few minutes is still let in (`RecentKeys`); any other answers 503."""
    header = request.headers.get("Authorization")
    secret = current_app.extensions["api_key_secret"]
    recent: RecentKeys = current_app.extensions["recent_keys"]
    try:
        with db.engine().begin() as conn:
            principal = authenticate(conn, header, secret)
            if recent.due(principal.prefix):
                touch(conn, principal.prefix)
    except db.UNAVAILABLE as exc:
        known = recent.recall(keyed_digest(header or "", secret))
        if known is None:
            raise ServiceUnavailable("the database is unavailable; try again shortly") from exc
        return known
    recent.remember(keyed_digest(header or "", secret), principal)
    return principal


def require(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Route decorator: a valid key whose role is one of `roles` (401 / 403 otherwise), within
    its rate limit (429)."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            principal = caller()
            if principal.role not in roles:
                raise Forbidden(f"role {principal.role} may not do this; needs "
                                f"{' or '.join(roles)}")
            g.principal = principal
            charge(principal)
            return view(*args, **kwargs)

        # the OpenAPI document names the refusals of every protected operation (the error
        # shape of flask-smorest's DEFAULT_ERROR response)
        inner._apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))  # type: ignore[attr-defined]
        responses = inner._apidoc.setdefault("response", {}).setdefault(  # type: ignore[attr-defined]
            "responses", {})
        for code in (401, 403, 429, 503):
            responses.setdefault(code, []).append("DEFAULT_ERROR")
        # a JSON body sent as another type is a 415 (errors.py)
        arguments = inner._apidoc.get("arguments", {})  # type: ignore[attr-defined]
        if any(p.get("in") == "json" for p in arguments.get("parameters", [])):
            responses.setdefault(415, []).append("DEFAULT_ERROR")
        return inner

    return wrap


def init_app(app: Flask) -> None:
    app.extensions["recent_keys"] = RecentKeys()
