"""The pricing console (`/console/`): server-rendered pages for the pricing team and risk
officers, on the same services and the same role table (`services.permissions`) as the API.

- `signin.py`: sign in with an API key, the session, the `page(roles)` decorator.
- `strategy_pages.py`: strategies, versions, the grid editor, diff, approvals, simulations,
  experiments, audit.
- `risk_pages.py`: decision look-up (the waterfall, replay), monitoring alerts, dealer risk.
- `grids.py`: strategy documents as grids and rows of cells (no Flask); `charts.py`: ECharts
  options built from aggregates; `formats.py`: money, ratios and dates per locale.
- `templates/console/`, `static/console/` (ECharts vendored: no CDN), `translations/` (zh).

Flask-Babel picks the language (the session's choice, else the browser's); Flask-WTF's
CSRFProtect checks a token on every console form (the API uses keys, not cookies, and is not
checked). May import `valuation.services`, `valuation.store`, `strategies` and the top level.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from ..instance import session_secret

LANGUAGES = ("zh", "en")
csrf = CSRFProtect()


def locale() -> str:
    """The session's chosen language, else the browser's best match, else English."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES, "en") if request else "en"


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie session, `Secure` whenever the request came over HTTPS (or always,
    with CONSOLE_SECURE_COOKIE); HttpOnly and SameSite=Lax from the app's settings."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["CONSOLE_SECURE_COOKIE"] or (request and request.is_secure))


def init_app(app: Flask) -> None:
    """The console's blueprint, sessions (a generated SECRET_KEY when none is set), CSRF and
    languages."""
    # their routes, filters and globals are on `signin.blueprint`, set up once at import
    from . import formats, risk_pages, signin, strategy_pages  # noqa: F401

    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = session_secret("", Path(app.instance_path)).decode()
    app.config.update(SESSION_COOKIE_NAME="console_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=dt.timedelta(
                          minutes=app.config["CONSOLE_SESSION_MINUTES"]),
                      SESSION_COOKIE_PATH="/console",
                      WTF_CSRF_CHECK_DEFAULT=False,  # the console blueprint checks its forms
                      WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as the session
                      BABEL_DEFAULT_LOCALE="en",
                      BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"))
    app.session_interface = SessionCookies()
    csrf.init_app(app)
    Babel(app, locale_selector=locale)
    app.register_blueprint(signin.blueprint)
