"""Database records (SQLAlchemy 2 declarative); portable column types for SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(moment: dt.datetime | None) -> dt.datetime:
    """A stored moment as an aware UTC datetime: SQLite hands them back naive."""
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def iso(moment: dt.datetime | None) -> str | None:
    """A stored moment as ISO text to the second (UTC), None when absent."""
    return None if moment is None else aware(moment).isoformat(timespec="seconds")


class Base(DeclarativeBase):
    pass


def core(record: type[Base]) -> Table:
    """A record's table, for Core statements on hot paths (no ORM unit of work)."""
    return cast(Table, record.__table__)


class ApiKeyRecord(Base):
    """An API key: only a salted scrypt hash and a keyed digest (HMAC-SHA256 under the server
    secret named by `digest_key`) are stored; `prefix` identifies it in logs."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    salt: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(128), nullable=False)
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    digest_key: Mapped[str | None] = mapped_column(String(16), nullable=True)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    dealer_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("dealers.id"),
                                                  nullable=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # the key's own rate limit ("100/minute"); none: its role's (RATE_LIMITS)
    rate_limit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # written at most once a minute per worker (services.keys.RecentKeys)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)


class DealerRecord(Base):
    """A dealer (channel) with its risk tier."""

    __tablename__ = "dealers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    tier: Mapped[str | None] = mapped_column(String(16), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                    onupdate=utcnow)


class ValuationRecord(Base):
    """One valuation as returned: the request, the exact response body, model and caller."""

    __tablename__ = "valuations"
    __table_args__ = (Index("ix_valuations_dealer_created", "dealer_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    key_prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    dealer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_name: Mapped[str] = mapped_column(String(64), nullable=False)
    model_version: Mapped[str] = mapped_column(String(16), nullable=False)
    vin: Mapped[str | None] = mapped_column(String(32), nullable=True)
    external_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    request_json: Mapped[str] = mapped_column(Text, nullable=False)
    response_json: Mapped[str] = mapped_column(Text, nullable=False)


class ValuationJobRecord(Base):
    """A CSV batch valued in the background (`valuation jobs work` claims it): the upload, the
    caller, the state and the progress. `heartbeat_at` is renewed with every chunk; a running
    job whose heartbeat is stale lost its worker and is claimed again (it resumes)."""

    __tablename__ = "valuation_jobs"
    __table_args__ = (Index("ix_valuation_jobs_state_created", "state", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    key_prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    dealer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # queued running done failed
    rows_total: Mapped[int] = mapped_column(Integer, nullable=False)
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                            nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    input_csv: Mapped[str] = mapped_column(Text, nullable=False)


class ValuationJobRowRecord(Base):
    """One row of a job's result: the stored valuation's id and headline figures, or the row's
    error. The primary key (job, row) makes a row impossible to store twice."""

    __tablename__ = "valuation_job_rows"

    job_id: Mapped[str] = mapped_column(String(36), ForeignKey("valuation_jobs.id"),
                                        primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    valuation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    vin: Mapped[str | None] = mapped_column(String(32), nullable=True)
    external_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    retail: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    low: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    high: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    lending: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    confidence: Mapped[str | None] = mapped_column(String(16), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class StrategyVersionRecord(Base):
    """An immutable strategy version (its document and content hash) and its lifecycle state."""

    __tablename__ = "strategy_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_strategy_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    document_json: Mapped[str] = mapped_column(Text, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(80), nullable=False)
    author: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class CreditDecisionRecord(Base):
    """A credit-limit decision with everything needed to replay it."""

    __tablename__ = "credit_decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(80), nullable=False)
    request_json: Mapped[str] = mapped_column(Text, nullable=False)
    inputs_json: Mapped[str] = mapped_column(Text, nullable=False)
    response_json: Mapped[str] = mapped_column(Text, nullable=False)
    strategy_name: Mapped[str] = mapped_column(String(64), nullable=False)
    strategy_version: Mapped[int] = mapped_column(Integer, nullable=False)
    valuation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    model_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(16), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    final_limit: Mapped[int] = mapped_column(BigInteger, nullable=False)
    arm: Mapped[str] = mapped_column(String(16), nullable=False, default="champion")
    champion_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    challenger_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shadow_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class StrategyAuditRecord(Base):
    """Append-only audit log of the strategy lifecycle: who did what, when, why, the diff."""

    __tablename__ = "strategy_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    diff_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class ExperimentRecord(Base):
    """A champion/challenger experiment on a strategy (one open at a time per name)."""

    __tablename__ = "strategy_experiments"
    __table_args__ = (Index("uq_open_experiment", "name", unique=True,
                            sqlite_where=text("ended_at IS NULL"),
                            postgresql_where=text("ended_at IS NULL")),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    challenger_version: Mapped[int] = mapped_column(Integer, nullable=False)
    share_pct: Mapped[int] = mapped_column(Integer, nullable=False)
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    salt: Mapped[str] = mapped_column(String(64), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SimulationRecord(Base):
    """A stored what-if simulation of a candidate strategy version against the active one."""

    __tablename__ = "strategy_simulations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    candidate_version: Mapped[int] = mapped_column(Integer, nullable=False)
    baseline_version: Mapped[int] = mapped_column(Integer, nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    report_json: Mapped[str] = mapped_column(Text, nullable=False)


class SimulationChangeRecord(Base):
    """One application whose decision a simulation changed (outcome or final limit): the
    report's pages of changed decisions are read from here, never from the report itself."""

    __tablename__ = "strategy_simulation_changes"
    __table_args__ = (PrimaryKeyConstraint("simulation_id", "seq"),)

    simulation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("strategy_simulations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # the application's position in the simulation
    application_id: Mapped[str] = mapped_column(String(128), nullable=False)
    segment: Mapped[str] = mapped_column(String(32), nullable=False)
    customer_tier: Mapped[str] = mapped_column(String(16), nullable=False)
    base_outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    base_limit: Mapped[int] = mapped_column(BigInteger, nullable=False)
    candidate_outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    candidate_limit: Mapped[int] = mapped_column(BigInteger, nullable=False)


class LoanRecord(Base):
    """A funded loan (the loan book): money in fen (1/100 of the currency unit), the car as a
    canonical record now (`vehicle_json`) and as it was at funding (`funded_vehicle_json`),
    and its value and lending value at funding (whole units)."""

    __tablename__ = "loans"
    __table_args__ = (Index("ix_loans_dealer", "dealer_id"), Index("ix_loans_status", "status"))

    loan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dealer_id: Mapped[str] = mapped_column(String(64), ForeignKey("dealers.id"), nullable=False)
    funded_at: Mapped[dt.date] = mapped_column(Date, nullable=False)
    principal_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    term_months: Mapped[int] = mapped_column(Integer, nullable=False)
    annual_rate_bps: Mapped[int] = mapped_column(Integer, nullable=False)
    balance_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    balance_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    days_past_due: Mapped[int | None] = mapped_column(Integer, nullable=True)
    odometer_km: Mapped[int | None] = mapped_column(Integer, nullable=True)
    odometer_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    valuation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    vehicle_json: Mapped[str] = mapped_column(Text, nullable=False)
    funded_vehicle_json: Mapped[str] = mapped_column(Text, nullable=False)
    funded_value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    funded_lending: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class MonitoringRunRecord(Base):
    """One revaluation of the loan book at an as-of date: state, progress, the policy and
    model it used, timings and the summary."""

    __tablename__ = "monitoring_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, nullable=False)
    engine: Mapped[str] = mapped_column(String(16), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                            nullable=True)
    policy_hash: Mapped[str | None] = mapped_column(String(80), nullable=True)
    model_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(16), nullable=True)
    loans_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    loans_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    loans_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    summary_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    timings_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)


class LoanRevaluationRecord(Base):
    """One loan in one run: its value, lending value and LTV at the as-of date, the changes,
    grade, action and rule codes (JSON list), or the reason it could not be valued."""

    __tablename__ = "loan_revaluations"
    __table_args__ = (Index("ix_loan_revaluations_loan", "loan_id"),)

    run_id: Mapped[str] = mapped_column(String(36), ForeignKey("monitoring_runs.id"),
                                        primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    lending: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ltv_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ltv_change_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ltv_change_prev_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    value_change_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    value_change_prev_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    grade: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str | None] = mapped_column(String(16), nullable=True)
    rules_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class MonitoringAlertRecord(Base):
    """A loan in alert (grade 2 or worse): raised by a run, kept up to date by later runs,
    cleared by the first run that grades the loan 1 again; acknowledged by a risk officer."""

    __tablename__ = "monitoring_alerts"
    __table_args__ = (Index("ix_monitoring_alerts_loan_state", "loan_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(String(64), ForeignKey("loans.loan_id"), nullable=False)
    dealer_id: Mapped[str] = mapped_column(String(64), nullable=False)
    segment: Mapped[str] = mapped_column(String(16), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # open acknowledged cleared
    grade: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    rules_json: Mapped[str] = mapped_column(Text, nullable=False)
    raised_run_id: Mapped[str] = mapped_column(String(36), nullable=False)
    last_run_id: Mapped[str] = mapped_column(String(36), nullable=False)
    cleared_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    raised_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    cleared_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                                nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class MonitoringAuditRecord(Base):
    """Append-only: every change of an alert (raised, changed, cleared, acknowledged)."""

    __tablename__ = "monitoring_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(Integer, ForeignKey("monitoring_alerts.id"),
                                          nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    detail_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class DealerTierChangeRecord(Base):
    """A proposed change of a dealer's tier (from its channel risk) and its maker-checker
    decision: applied by a second person, or rejected. The rows are the audit trail."""

    __tablename__ = "dealer_tier_changes"
    __table_args__ = (Index("ix_dealer_tier_changes_dealer", "dealer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dealer_id: Mapped[str] = mapped_column(String(64), ForeignKey("dealers.id"), nullable=False)
    from_tier: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_tier: Mapped[str] = mapped_column(String(16), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # proposed applied rejected
    proposed_by: Mapped[str] = mapped_column(String(128), nullable=False)
    proposed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    reason_json: Mapped[str] = mapped_column(Text, nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
