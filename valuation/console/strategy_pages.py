"""Console pages of the pricing team: strategies and the approval inbox, a version as grids,
the grid editor (ETag, validation by cell), diff, submit / approve / activate / roll back,
simulations with charts, champion/challenger experiments, the audit log. Every action calls
the same service function as the API, under the same roles (`services.permissions`)."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import yaml
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from strategies.diff import diff, flatten

from .. import serving
from ..errors import InvalidInput, PreconditionFailed
from ..services import (
    activation,
    application_csv,
    experiments,
    lifecycle,
    permissions,
    simulations,
    strategy_store,
)
from ..services.lifecycle import APPROVED, DRAFT, RETIRED, SUBMITTED
from ..store import db
from . import charts, grids
from .signin import PER_PAGE, blueprint, page, page_count

AUDIT_ACTIONS = ("seed", "create", "edit", "submit", "approve", "activate", "schedule",
                 "unschedule", "retire", "rollback", "experiment_start", "experiment_end")


def _comment() -> str:
    """The form's comment, within the lifecycle's bounds (the API's rule), else 422."""
    comment = request.form.get("comment", "").strip()
    low, high = lifecycle.COMMENT_LENGTH
    if not low <= len(comment) <= high:
        raise InvalidInput(_("A comment of %(low)s to %(high)s characters is required.",
                             low=low, high=high))
    return comment


def _seed(session: Any) -> None:
    """The shipped default strategy and monitoring policy exist as version 1 (as the API's
    first use makes them), so that any page may be the first one opened."""
    strategy_store.seed_default(session)
    lifecycle.seed_monitoring(session)


def _version_link(name: str, version: int) -> str:
    return url_for("console.version", name=name, version=version)


@blueprint.route("/strategies")
@page(*permissions.STRATEGY_READ)
def strategies() -> str:
    """Each strategy with its active version, challenger and versions in flight; the inbox of
    submitted versions an approver may approve (not their own)."""
    with db.session() as session, session.begin():
        _seed(session)
        items, inbox = [], []
        for name in lifecycle.names(session):
            records = lifecycle.versions(session, name)
            active = activation.active(session, name)
            running = experiments.current(session, name)
            items.append({"name": name, "active": active.version if active else None,
                          "experiment": experiments.body(running),
                          "versions": [lifecycle.version_body(r, with_document=False)
                                       for r in reversed(records)]})
            inbox += [lifecycle.version_body(r, with_document=False) for r in records
                      if r.state == SUBMITTED and not lifecycle.is_maker(r, g.principal)]
    return render_template("console/strategies.html", items=items, inbox=inbox)


@blueprint.route("/strategies/<name>/versions/<int(min=1, max=2147483647):version>")
@page(*permissions.STRATEGY_READ)
def version(name: str, version: int) -> str:
    with db.session() as session, session.begin():
        _seed(session)
        record = lifecycle.get_version(session, name, version)
        body = lifecycle.version_body(record)
        active = activation.active(session, name)
        can_approve = record.state == SUBMITTED and not lifecycle.is_maker(record, g.principal)
        can_rollback = activation.can_roll_back_to(record)
    document = body["document"]
    return render_template("console/version.html", v=body, grids=grids.grids(document),
                           sections=grids.sections(document), reasons=grids.reasons(document),
                           active=active.version if active else None,
                           can_approve=can_approve, can_rollback=can_rollback)


@blueprint.route("/strategies/<name>/versions/<int(min=1, max=2147483647):version>.yaml")
@page(*permissions.STRATEGY_READ)
def export_yaml(name: str, version: int) -> Response:
    with db.session() as session:
        record = lifecycle.get_version(session, name, version)
        text = yaml.safe_dump({"version": record.version, **lifecycle.document_of(record)},
                              allow_unicode=True, sort_keys=False)
    return Response(text, mimetype="application/yaml", headers={
        "Content-Disposition": f'attachment; filename="{name}-v{version}.yaml"'})


@blueprint.route("/strategies/<name>/versions/<int(min=1, max=2147483647):version>/copy",
                 methods=["POST"])
@page(*permissions.STRATEGY_EDIT)
def copy_version(name: str, version: int) -> Response:
    """A new draft with this version's document, to edit."""
    with db.session() as session, session.begin():
        _seed(session)
        document = lifecycle.document_of(lifecycle.get_version(session, name, version))
        record, _warnings = lifecycle.create_draft(session, g.principal, name, document)
        number = record.version
    flash(_("Draft version %(v)s created from version %(from_)s.", v=number, from_=version))
    return redirect(url_for("console.edit", name=name, version=number))


@blueprint.route("/strategies/<name>/versions/<int(min=1, max=2147483647):version>/edit",
                 methods=["GET", "POST"])
@page(*permissions.STRATEGY_EDIT)
def edit(name: str, version: int) -> Any:
    """The grid editor: every cell an input; saved with the ETag read (a stale save names who
    changed the draft and offers to reload); errors next to their cells."""
    errors: dict[str, list[str]] = {}
    stale = None
    with db.session() as session, session.begin():
        _seed(session)
        record = lifecycle.get_version(session, name, version)
        body = lifecycle.version_body(record)
    document, etag = body["document"], body["etag"]
    if body["state"] != DRAFT:
        flash(_("Version %(v)s is %(state)s: only drafts can be edited.", v=version,
                state=body["state"]), "error")
        return redirect(_version_link(name, version))
    if request.method == "POST":
        cells = {k: v for k, v in request.form.items() if k not in ("csrf_token", "etag")}
        edited, errors = grids.apply_cells(document, cells)
        if not errors:
            try:
                with db.session() as session, session.begin():
                    saved, warnings = lifecycle.update_draft(session, g.principal, name, version,
                                                             edited, request.form.get("etag"))
            except InvalidInput as exc:
                errors = grids.error_paths((exc.errors or {}).get("json", {"_schema": [
                    exc.message]}))
            except PreconditionFailed:
                stale = _last_editor(name, version)
            else:
                flash(_("Saved."))
                for warning in warnings:
                    flash(warning, "warning")
                return redirect(url_for("console.edit", name=name, version=version))
        document = edited  # show what the person typed, with the errors
        etag = request.form.get("etag", etag)
    status = 422 if errors else 409 if stale else 200
    return render_template("console/edit.html", v=body, document=document, etag=etag,
                           grids=grids.grids(document), sections=grids.sections(document),
                           reasons=grids.reasons(document), errors=errors, stale=stale), status


def _last_editor(name: str, version: int) -> dict[str, Any] | None:
    """Who changed the draft last, and when (the audit's newest entry of this version)."""
    with db.session() as session:
        entries = [e for e in lifecycle.audit_log(session, name) if e["version"] == version]
    return entries[-1] if entries else None


@blueprint.route("/strategies/<name>/versions/<int(min=1, max=2147483647):version>/submit",
                 methods=["POST"])
@page(*permissions.STRATEGY_EDIT)
def submit(name: str, version: int) -> Response:
    comment = _comment()
    with db.session() as session, session.begin():
        lifecycle.submit(session, g.principal, name, version, comment)
    flash(_("Version %(v)s submitted for approval.", v=version))
    return redirect(_version_link(name, version))


@blueprint.route("/strategies/<name>/versions/<int(min=1, max=2147483647):version>/approve",
                 methods=["POST"])
@page(*permissions.STRATEGY_APPROVE)
def approve(name: str, version: int) -> Response:
    comment = _comment()
    with db.session() as session, session.begin():
        lifecycle.approve(session, g.principal, name, version, comment,
                          request.form.get("hash", ""))
    flash(_("Version %(v)s approved.", v=version))
    return redirect(_version_link(name, version))


@blueprint.route("/strategies/<name>/versions/<int(min=1, max=2147483647):version>/activate",
                 methods=["POST"])
@page(*permissions.STRATEGY_APPROVE)
def activate(name: str, version: int) -> Response:
    comment = _comment()
    with db.session() as session, session.begin():
        activation.activate(session, g.principal, name, version, comment,
                            request.form.get("hash", ""), None)
    flash(_("Version %(v)s is now active.", v=version))
    return redirect(_version_link(name, version))


@blueprint.route("/strategies/<name>/rollback", methods=["POST"])
@page(*permissions.STRATEGY_APPROVE)
def rollback(name: str) -> Response:
    comment = _comment()
    try:
        to_version = int(request.form.get("to_version", ""))
    except ValueError:
        raise InvalidInput(_("Choose the version to roll back to.")) from None
    with db.session() as session, session.begin():
        activation.rollback(session, g.principal, name, to_version, comment)
    flash(_("Rolled back to version %(v)s.", v=to_version))
    return redirect(_version_link(name, to_version))


@blueprint.route("/strategies/<name>/diff")
@page(*permissions.STRATEGY_READ)
def diff_page(name: str) -> str:
    """Two versions side by side, changed cells highlighted."""
    with db.session() as session, session.begin():
        _seed(session)
        numbers = [r.version for r in lifecycle.versions(session, name)]
        active = activation.active(session, name)
        to = request.args.get("to", type=int) or (numbers[-1] if numbers else 1)
        start = request.args.get("from", type=int) or (active.version if active else to)
        old = lifecycle.document_of(lifecycle.get_version(session, name, start))
        new = lifecycle.document_of(lifecycle.get_version(session, name, to))
    changes = diff(old, new)
    changed = {c["path"] for c in changes}
    old_leaves, new_leaves = flatten(old), flatten(new)
    rows = [{"path": p, "from": old_leaves.get(p), "to": new_leaves.get(p)} for p in
            sorted(changed) if grids.steps(p)[0] not in grids.GRIDS]
    everything = request.args.get("all") == "1"
    return render_template("console/diff.html", name=name, start=start, to=to,
                           numbers=numbers, everything=everything,
                           old_grids=_changed_segments(grids.grids(old), changed, everything),
                           new_grids=_changed_segments(grids.grids(new), changed, everything),
                           changed=changed, rows=rows, count=len(changes))


def _changed_segments(tables: list[grids.Grid], changed: set[str], everything: bool
                      ) -> list[grids.Grid]:
    """The grids with only their segments that hold a changed cell (all of them with
    `everything`); a grid without changes is left out."""
    if everything:
        return tables
    out = []
    for grid in tables:
        kept = [(segment, rows) for segment, rows in grid.segments
                if any(cell.path in changed for _, cells in rows for cell in cells)]
        if kept:
            out.append(grids.Grid(grid.name, grid.dealer_tiers, kept))
    return out


@blueprint.route("/strategies/<name>/simulations", methods=["GET", "POST"])
@page(*permissions.SIMULATE)
def simulate(name: str) -> Any:
    """Choose a candidate and a date range (stored decisions) or upload a CSV of past
    applications; the report is stored and shown."""
    with db.session() as session:
        numbers = [r.version for r in lifecycle.versions(session, name)]
    if request.method == "GET":
        return render_template("console/simulate.html", name=name, numbers=numbers,
                               chosen=request.args.get("candidate", type=int))
    lifecycle.require_credit(name)
    try:
        candidate = int(request.form.get("candidate_version", ""))
        start = _date(request.form.get("from"))
        end = _date(request.form.get("to"))
    except ValueError:
        raise InvalidInput(_("Choose a candidate version and valid dates.")) from None
    upload = request.files.get("file")
    with db.session() as session, session.begin():
        if name == strategy_store.DEFAULT_NAME:
            strategy_store.seed_default(session)
        if upload is not None and upload.filename:
            apps, ids = application_csv.csv_applications(upload.read(), serving.predictor())
        else:
            apps, ids = simulations.stored_applications(session, start, end)
        report = simulations.run(session, g.principal, name, candidate, apps, ids)
    return redirect(url_for("console.simulation", name=name, sim_id=report["id"]))


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


@blueprint.route("/strategies/<name>/simulations/<sim_id>")
@page(*permissions.SIMULATE)
def simulation(name: str, sim_id: str) -> str:
    """The report's charts (from its aggregates) and one page of the changed decisions (read
    from the database a page at a time)."""
    pageno = max(request.args.get("page", 1, type=int), 1)
    only_outcome = request.args.get("outcome_changed") == "1"
    with db.session() as session:
        report = json.loads(simulations.get(session, name, sim_id))
        changes = simulations.changes(session, name, sim_id, pageno, PER_PAGE, only_outcome)
    figures = {"limits": charts.limit_distribution(report), "totals": charts.totals(report),
               "segments": charts.outcome_rates(report["outcomes_by_segment"], "segment"),
               "tiers": charts.outcome_rates(report["outcomes_by_customer_tier"],
                                             "customer_tier")}
    pages = page_count(changes["total"])
    return render_template("console/simulation.html", name=name, r=report, changes=changes,
                           figures=figures, pages=pages, only_outcome=only_outcome)


@blueprint.route("/strategies/<name>/experiment", methods=["POST"])
@page(*permissions.EXPERIMENT_RUN)
def start_or_stop_experiment(name: str) -> Response:
    """Start a challenger, or stop the running experiment (approvers)."""
    with db.session() as session, session.begin():
        if request.form.get("stop"):
            experiments.stop(session, g.principal, name)
            flash(_("Experiment stopped."))
        else:
            try:
                challenger = int(request.form.get("challenger_version", ""))
                share = int(request.form.get("share_pct", ""))
            except ValueError:
                raise InvalidInput(_("Choose a challenger and a share.")) from None
            experiments.start(session, g.principal, name, challenger, share,
                              request.form.get("mode", ""),
                              request.form.get("salt", "").strip() or name)
            flash(_("Experiment started."))
    return redirect(url_for("console.experiment", name=name))


@blueprint.route("/strategies/<name>/experiment")
@page(*permissions.EXPERIMENT_READ)
def experiment(name: str) -> str:
    """The running experiment and its per-arm report as a chart."""
    with db.session() as session:
        numbers = [r.version for r in lifecycle.versions(session, name)
                   if r.state in (APPROVED, RETIRED)]
        running = experiments.current(session, name)
        report = experiments.report(session, name) if running is not None else None
    figure = charts.experiment_arms(report["arms"]) if report else None
    return render_template("console/experiment.html", name=name, numbers=numbers,
                           report=report, figure=figure, modes=experiments.MODES)


@blueprint.route("/audit")
@page(*permissions.STRATEGY_READ)
def audit() -> str:
    """The audit log of a strategy, filtered by actor and action."""
    with db.session() as session, session.begin():
        _seed(session)
        names = lifecycle.names(session)
        name = request.args.get("strategy") or (names[0] if names else strategy_store.DEFAULT_NAME)
        actor = request.args.get("actor", "").strip() or None
        action = request.args.get("action") or None
        entries = list(reversed(lifecycle.audit_log(session, name, actor, action)))
    return render_template("console/audit.html", names=names, name=name, actor=actor or "",
                           action=action or "", actions=AUDIT_ACTIONS, entries=entries)
