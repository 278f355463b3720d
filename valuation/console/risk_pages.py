"""Console pages of risk officers and underwriting: a credit decision as a waterfall from the
requested amount to the final limit (with its reasons and a replay), monitoring runs (start
one, follow it, read its summary), a loan with its revaluation history, monitoring alerts
(filter, acknowledge) and dealer channel risk. The same services and roles as the API."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import flash, g, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from strategies.monitoring import ACTIONS, GRADES

from .. import clock
from ..errors import InvalidInput
from ..services import credit, dealer_risk, monitoring, permissions
from ..services import loans as loan_book
from ..store import db
from . import charts
from .signin import PER_PAGE, blueprint, page, page_count, safe_next

ALERT_STATES = ("open", "acknowledged", "cleared")


@blueprint.route("/decisions")
@page(*permissions.DECISION_READ)
def decisions() -> Any:
    """Look a decision up by its id or its application id."""
    key = request.args.get("q", "").strip()
    if not key:
        return render_template("console/decision.html", decision=None, q="")
    with db.session() as session:
        decision_id = credit.find(session, key)
    return redirect(url_for("console.decision", decision_id=decision_id))


@blueprint.route("/decisions/<decision_id>")
@page(*permissions.DECISION_READ)
def decision(decision_id: str) -> str:
    with db.session() as session:
        body = json.loads(credit.get(session, decision_id))
    figure = charts.waterfall(body.get("steps", []), body.get("requested_amount") or 0,
                              body.get("final_limit") or 0)
    return render_template("console/decision.html", decision=body, q=decision_id,
                           figure=figure, replayed=None)


@blueprint.route("/decisions/<decision_id>/replay", methods=["POST"])
@page(*permissions.DECISION_READ)
def replay(decision_id: str) -> str:
    with db.session() as session:
        body = json.loads(credit.get(session, decision_id))
        replayed = credit.replay(session, decision_id)
    figure = charts.waterfall(body.get("steps", []), body.get("requested_amount") or 0,
                              body.get("final_limit") or 0)
    return render_template("console/decision.html", decision=body, q=decision_id,
                           figure=figure, replayed=replayed)


@blueprint.route("/runs")
@page(*permissions.MONITORING)
def runs() -> str:
    """Monitoring runs, newest first, and a form to start one."""
    pageno = max(request.args.get("page", 1, type=int), 1)
    with db.session() as session:
        found = monitoring.list_runs(session, page=pageno, per_page=PER_PAGE)
    return render_template("console/runs.html", found=found, pages=page_count(found["total"]),
                           today=clock.today())


@blueprint.route("/runs", methods=["POST"])
@page(*permissions.MONITORING)
def start_run() -> Response:
    try:
        as_of = dt.date.fromisoformat(request.form.get("as_of", "").strip())
    except ValueError as exc:
        raise InvalidInput(_("Give the as-of date as YYYY-MM-DD.")) from exc
    with db.session() as session, session.begin():
        run_id = monitoring.create_run(session, g.principal.name, as_of).id
    flash(_("Run queued: a job worker values the loan book."))
    return redirect(url_for("console.run", run_id=run_id))


@blueprint.route("/runs/<run_id>")
@page(*permissions.MONITORING)
def run(run_id: str) -> str:
    """A run's state and progress, and once done its summary: grades, actions, segments and
    the LTV distribution."""
    with db.session() as session:
        body = monitoring.get_run(session, run_id)
    summary = body["summary"]
    figure = charts.ltv_distribution(summary["ltv_distribution"]) if summary else None
    return render_template("console/run.html", run=body, summary=summary, figure=figure)


@blueprint.route("/runs/<run_id>/results.csv")
@page(*permissions.MONITORING)
def run_results(run_id: str) -> Response:
    """The run's loans as CSV (the API's `GET /v1/monitoring/runs/{id}/results`)."""
    name, pieces = monitoring.results_csv(db.session, run_id)
    return Response(stream_with_context(pieces), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@blueprint.route("/loans")
@page(*permissions.MONITORING)
def loans() -> Any:
    """Look a loan up by its id."""
    key = request.args.get("q", "").strip()
    if not key:
        return render_template("console/loan.html", loan=None, q="")
    return redirect(url_for("console.loan", loan_id=key))


@blueprint.route("/loans/<loan_id>")
@page(*permissions.MONITORING)
def loan(loan_id: str) -> str:
    """A loan, its car and its revaluation history, the LTV of each run as a chart."""
    with db.session() as session:
        body = loan_book.get(session, loan_id)
    figure = charts.ltv_history(body["revaluations"]) if body["revaluations"] else None
    return render_template("console/loan.html", loan=body, q=loan_id, figure=figure)


@blueprint.route("/alerts")
@page(*permissions.MONITORING)
def alerts() -> str:
    """Monitoring alerts, worst and newest first, filtered and paged."""
    grade = request.args.get("grade", type=int)
    filters: dict[str, Any] = {"grade": grade if grade in GRADES else None,
               "action": request.args.get("action") if request.args.get("action") in ACTIONS
               else None,
               "dealer_id": request.args.get("dealer", "").strip() or None,
               "segment": request.args.get("segment", "").strip() or None,
               "state": request.args.get("state") if request.args.get("state") in ALERT_STATES
               else None}
    pageno = max(request.args.get("page", 1, type=int), 1)
    with db.session() as session:
        found = monitoring.list_alerts(session, page=pageno, per_page=PER_PAGE, **filters)
    pages = page_count(found["total"])
    return render_template("console/alerts.html", found=found, filters=filters, pages=pages,
                           grades=GRADES, actions=ACTIONS, states=ALERT_STATES)


@blueprint.route("/alerts/<int(min=1, max=2147483647):alert_id>/acknowledge", methods=["POST"])
@page(*permissions.MONITORING)
def acknowledge(alert_id: int) -> Response:
    comment = request.form.get("comment", "").strip()
    if not comment:
        raise InvalidInput(_("A comment is required."))
    with db.session() as session, session.begin():
        monitoring.acknowledge(session, g.principal.name, alert_id, comment)
    flash(_("Alert %(id)s acknowledged.", id=alert_id))
    return redirect(safe_next(request.form.get("back")))


@blueprint.route("/dealers")
@page(*permissions.DEALER_RISK)
def dealers() -> str:
    """Every dealer's channel risk under the active monitoring policy."""
    sort = request.args.get("sort", "score")
    with db.session() as session, session.begin():
        found = dealer_risk.risk(session, None, sort if sort in dealer_risk.SORTS else "score")
    return render_template("console/dealers.html", found=found, sort=sort,
                           sorts=dealer_risk.SORTS)
