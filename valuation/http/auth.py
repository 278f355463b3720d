"""Route protection: a valid API key whose role may call the route (401 / 403 otherwise)."""
from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request

from ..errors import Forbidden
from ..services.keys import authenticate
from ..store import db


def require(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Route decorator: a valid key whose role is one of `roles` (401 / 403 otherwise)."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with db.engine().begin() as conn:
                principal = authenticate(conn, request.headers.get("Authorization"),
                                         current_app.extensions["api_key_secret"])
            if principal.role not in roles:
                raise Forbidden(f"role {principal.role} may not do this; needs "
                                f"{' or '.join(roles)}")
            g.principal = principal
            return view(*args, **kwargs)

        # the OpenAPI document names the two refusals of every protected operation (the
        # error shape of flask-smorest's DEFAULT_ERROR response)
        inner._apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))  # type: ignore[attr-defined]
        responses = inner._apidoc.setdefault("response", {}).setdefault(  # type: ignore[attr-defined]
            "responses", {})
        for code in (401, 403):
            responses.setdefault(code, []).append("DEFAULT_ERROR")
        return inner

    return wrap
