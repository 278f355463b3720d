"""Rate limits per API key (Flask-Limiter): each key has its own budget, set by the key
(`keys create --rate-limit`) or else by its role (RATE_LIMITS). Counted in memory per worker
by default; RATE_LIMIT_STORAGE=redis://... shares one count between workers and hosts.

Only authenticated routes are limited (`auth.require` applies `limited` after it knows the
caller): /health, /ready, /metrics and the API docs are not. Over the limit: 429 with
`Retry-After`; every limited answer carries `X-RateLimit-Limit/Remaining/Reset`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g
from flask_limiter import Limiter

from ..errors import ValuationError
from ..services.keys import ROLES, check_rate_limit


def _caller() -> str:
    return str(g.principal.prefix)


def _budget() -> str:
    principal = g.get("principal")
    if principal is None:
        # Flask-Limiter's before_request hook reads every route's limits before the caller is
        # known, only to decide whether default limits apply (there are none); it counts
        # nothing, and the view's own check below runs once the caller is known
        return "1/second"
    return principal.rate_limit or current_app.extensions["role_rate_limits"][principal.role]


limiter = Limiter(key_func=_caller, headers_enabled=True, swallow_errors=True,
                  in_memory_fallback_enabled=True)
# one budget per key across every route (not one per route)
_shared = limiter.shared_limit(_budget, scope="api-key")


def limited(view: Callable[..., Any]) -> Callable[..., Any]:
    """`view` counted against its caller's budget (`g.principal` must be set)."""
    return _shared(view)


def role_limits(text: str) -> dict[str, str]:
    """RATE_LIMITS "dealer=600/minute,admin=120/minute,..." as {role: limit}; every role needs
    one."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, sep, limit = part.partition("=")
        if not sep or role.strip() not in ROLES:
            raise ValuationError(f"RATE_LIMITS: {part!r} is not ROLE=LIMIT with a role of "
                                 f"{', '.join(ROLES)}")
        out[role.strip()] = check_rate_limit(limit)
    missing = [r for r in ROLES if r not in out]
    if missing:
        raise ValuationError(f"RATE_LIMITS names no limit for {', '.join(missing)}")
    return out


def init_app(app: Flask) -> None:
    app.extensions["role_rate_limits"] = role_limits(app.config["RATE_LIMITS"])
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["RATE_LIMIT_STORAGE"])
    app.config.setdefault("RATELIMIT_ENABLED", app.config["RATE_LIMITS_ENABLED"])

    @app.after_request
    def retry_after_only_when_refused(response):  # type: ignore[no-untyped-def]
        # runs after Flask-Limiter's header hook (registered later, run earlier), which puts
        # its window's reset in Retry-After on every limited answer: keep it on a 429, give
        # back an error handler's own (`g.retry_after`, e.g. a 503), drop it elsewhere
        if "retry_after" in g:
            response.headers["Retry-After"] = g.retry_after
        elif response.status_code != 429:
            response.headers.pop("Retry-After", None)
        return response

    limiter.init_app(app)
