"""Signing in to the console with an API key, the session, and `page(roles)`: the decorator
every console page carries (signed in, session not expired, key still valid, role allowed by
`services.permissions`)."""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from ..errors import Unauthorized, ValuationError
from ..services import keys, permissions
from ..store import db
from . import LANGUAGES, csrf

blueprint = Blueprint("console", __name__, url_prefix="/console",
                      template_folder="templates", static_folder="static",
                      static_url_path="/static")


@blueprint.before_request
def check_csrf() -> None:
    """Every console form that changes something carries the session's CSRF token."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


@blueprint.after_request
def no_store(response: Response) -> Response:
    """Pages show data for one signed-in person: never cached, never framed."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _secret() -> bytes:
    return current_app.extensions["api_key_secret"]


def _signed_in() -> keys.Principal | None:
    """The principal of this session, or None (not signed in, expired, key no longer valid: the
    session is cleared and the reason kept for the sign-in page)."""
    prefix, token, since = session.get("key"), session.get("token"), session.get("since")
    if not prefix or not token or not isinstance(since, (int, float)):
        return None
    if time.time() - since > current_app.config["CONSOLE_SESSION_MINUTES"] * 60:
        _end_session(_("Your session has expired; sign in again."))
        return None
    try:
        with db.engine().connect() as conn:
            return keys.session_principal(conn, str(prefix), str(token), _secret())
    except Unauthorized:
        _end_session(_("Your API key is no longer valid; sign in again."))
        return None


def _end_session(why: str | None = None) -> None:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    if why:
        session["notice"] = why


def page(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A console page for `roles` (a tuple of `services.permissions`): signed in, else to the
    sign-in page; another role gets a 403 page."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            principal = _signed_in()
            if principal is None:  # back to this page afterwards (a form is not resent)
                back = request.full_path if request.method == "GET" else None
                return redirect(url_for("console.signin", next=back))
            g.principal = principal
            if principal.role not in roles:
                return render_template("console/error.html", status=403, message=_(
                    "Your role (%(role)s) may not open this page.", role=principal.role)), 403
            return view(*args, **kwargs)

        return inner

    return wrap


PER_PAGE = 25  # rows of a paged console table


def page_count(total: int) -> int:
    """Pages of PER_PAGE rows that `total` rows fill (one, when there are none)."""
    return max((total + PER_PAGE - 1) // PER_PAGE, 1)


def may(roles: tuple[str, ...]) -> bool:
    """Whether the signed-in person's role is among `roles` (templates show only the buttons
    a person may press; the services refuse the rest anyway)."""
    principal = g.get("principal")
    return principal is not None and principal.role in roles


def safe_next(target: str | None) -> str:
    """Only a console path of this site (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/"):
            return target
    return url_for("console.home")


@blueprint.route("/signin", methods=["GET", "POST"])
def signin() -> Any:
    error = None
    status = 200
    if request.method == "POST":
        key = request.form.get("api_key", "").strip()
        try:
            with db.engine().begin() as conn:
                principal, token = keys.sign_in(conn, key, _secret())
        except Unauthorized:
            principal, error, status = None, _("That API key is not valid."), 401
        if principal is not None and principal.role not in permissions.CONSOLE:
            error, status = _("Dealer keys cannot sign in to the console."), 403
        elif principal is not None:
            _end_session()
            session.update(key=principal.prefix, token=token, since=time.time())
            session.permanent = True
            return redirect(safe_next(request.form.get("next")))
    notice = session.pop("notice", None)
    return render_template("console/signin.html", error=error, notice=notice,
                           next=request.values.get("next", "")), status


@blueprint.route("/signout", methods=["POST"])
def signout() -> Response:
    _end_session(_("You have signed out."))
    return redirect(url_for("console.signin"))


@blueprint.route("/lang/<code>")
def language(code: str) -> Response:
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")))


@blueprint.route("/")
@page(*permissions.CONSOLE)
def home() -> Response:
    if g.principal.role in permissions.STRATEGY_READ:
        return redirect(url_for("console.strategies"))
    return redirect(url_for("console.alerts"))


@blueprint.errorhandler(ValuationError)
def service_refused(exc: ValuationError) -> Any:
    """A service's refusal (404, 409, 412, 403, ...) as a page that says why."""
    return render_template("console/error.html", status=exc.status, message=exc.message), \
        exc.status


@blueprint.errorhandler(CSRFError)
def csrf_refused(exc: CSRFError) -> Any:
    return render_template("console/error.html", status=400, message=_(
        "The form was refused: its security token is missing or out of date. Reload the page "
        "and try again.")), 400


@blueprint.app_context_processor
def console_context() -> dict[str, Any]:
    return {"may": may, "permissions": permissions, "languages": LANGUAGES,
            "lang": str(get_locale())}
