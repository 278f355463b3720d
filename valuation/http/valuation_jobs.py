"""Valuation jobs: a large CSV batch valued in the background; its state, progress and results
as CSV (the job is created by `POST /v1/valuations/batch`)."""
from __future__ import annotations

from flask import Flask, Response, g, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from ..errors import Conflict
from ..services import valuation_jobs
from ..store import db
from .auth import require
from .responses import json_response

jobs_blp = Blueprint("valuation_jobs", __name__, url_prefix="/v1/valuation-jobs",
                     description="Large CSV batches valued in the background.")


@jobs_blp.route("/<job_id>")
class ValuationJob(MethodView):
    @require("dealer", "underwriter", "admin")
    @jobs_blp.alt_response(200, description="state (queued, running, done, failed), rows, done, "
                                            "failed, progress (0-1), times, error")
    def get(self, job_id: str) -> Response:
        """A job's state and progress (a dealer sees only its own jobs)."""
        with db.session() as session:
            return json_response(valuation_jobs.status(session, g.principal, job_id), 200)


@jobs_blp.route("/<job_id>/results")
class ValuationJobResults(MethodView):
    @require("dealer", "underwriter", "admin")
    @jobs_blp.alt_response(200, description="CSV: row, valuation_id, vin, external_ref, retail, "
                                            "low, high, lending, confidence, error")
    @jobs_blp.alt_response(409, description="the job is not finished yet")
    def get(self, job_id: str) -> Response:
        """The results as CSV, one line per input row in row order, once the job is done (a
        failed job gives the rows it finished)."""
        with db.session() as session:
            job = valuation_jobs.status(session, g.principal, job_id)
        if job["state"] in ("queued", "running"):
            raise Conflict(f"job {job_id} is {job['state']}: {job['done']:,} of "
                           f"{job['rows']:,} rows so far")
        principal = g.principal

        def pieces():  # type: ignore[no-untyped-def]
            with db.session() as session:
                yield from valuation_jobs.results_csv(session, principal, job_id)

        return Response(stream_with_context(pieces()), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="valuation-job-{job_id}.csv"'})


def init_app(app: Flask) -> None:
    app.extensions["api"].register_blueprint(jobs_blp)
