"""Which strategy version decides: activation now or at a scheduled time, cancelling a schedule,
rollback, and the checks that guard them.

- Only `default` can be activated: decisions use it (other names are drafted and simulated).
- The approver names the content hash they reviewed; a mismatch is refused.
- Every dealer tier in the dealer table must exist in the version (by name or `renamed`).
- An immediate activation or a rollback cancels every pending schedule, so an older schedule
  can never silently replace an emergency change; a schedule that fires is audited.
- Activation and rollback end a running experiment: its champion has changed.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Row, bindparam, or_, select
from sqlalchemy.orm import Session

from strategies.diff import diff
from strategies.document import Strategy, load_strategy

from ..errors import Conflict
from ..store.tables import (
    DealerRecord,
    ExperimentRecord,
    StrategyVersionRecord,
    aware,
    core,
    utcnow,
)
from .keys import Principal
from .lifecycle import (
    ACTIVE,
    APPROVED,
    DEFAULT_NAME,
    MONITORING,
    RETIRED,
    SCHEDULED,
    audit,
    check_reviewed,
    document_of,
    get_version,
    transition,
    versions,
)

SYSTEM = "system"


def promote_due(session: Session, name: str, now: dt.datetime | None = None) -> None:
    """Scheduled versions whose time has come become active (audited as the system's
    activation); the one they replace retires."""
    now = now or utcnow()
    due = [r for r in versions(session, name) if r.state == SCHEDULED
           and r.activated_at is not None and aware(r.activated_at) <= now]
    for record in sorted(due, key=lambda r: aware(r.activated_at)):
        base = _current(session, name)
        changes = diff(document_of(base), document_of(record)) if base is not None else None
        when = record.activated_at
        _make_active(session, name, record, SCHEDULED, when, SYSTEM,
                     "scheduled activation took effect")
        audit(session, name, record.version, "activate", SYSTEM,
              f"scheduled activation took effect (effective {aware(when).isoformat()})", changes)


def _current(session: Session, name: str) -> StrategyVersionRecord | None:
    return session.scalar(select(StrategyVersionRecord).where(
        StrategyVersionRecord.name == name, StrategyVersionRecord.state == ACTIVE))


def _due(live: Sequence[StrategyVersionRecord | Row], now: dt.datetime) -> bool:
    """Whether one of the active or scheduled versions is a schedule whose time has come."""
    return any(r.state == SCHEDULED and r.activated_at is not None
               and aware(r.activated_at) <= now for r in live)


def active(session: Session, name: str) -> StrategyVersionRecord | None:
    """The active version (an ORM record), after any schedule that has come due took effect;
    readers on the hot path use `active_version`."""
    live = list(session.scalars(select(StrategyVersionRecord).where(
        StrategyVersionRecord.name == name,
        StrategyVersionRecord.state.in_((ACTIVE, SCHEDULED)))))
    now = utcnow()
    if _due(live, now):
        promote_due(session, name, now)
        return _current(session, name)
    return next((r for r in live if r.state == ACTIVE), None)


_VERSIONS = core(StrategyVersionRecord)
# two equalities, not `in_`: an IN list is expanded into the SQL at every execution
_LIVE = select(_VERSIONS).where(_VERSIONS.c.name == bindparam("name"), or_(
    _VERSIONS.c.state == ACTIVE, _VERSIONS.c.state == SCHEDULED))


def active_version(session: Session, name: str) -> StrategyVersionRecord | Row | None:
    """`active` for readers (every decision): one prebuilt Core query and a read-only row with
    the record's columns, no ORM loading; the ORM path only when a schedule has come due."""
    live = session.connection().execute(_LIVE, {"name": name}).all()
    if _due(live, utcnow()):
        return active(session, name)
    return next((r for r in live if r.state == ACTIVE), None)


def _end_experiment(session: Session, name: str, actor: str, why: str) -> None:
    running = session.scalar(select(ExperimentRecord).where(
        ExperimentRecord.name == name, ExperimentRecord.ended_at.is_(None)))
    if running is not None:
        running.ended_at = utcnow()
        audit(session, name, running.challenger_version, "experiment_end", actor, why)


def _make_active(session: Session, name: str, record: StrategyVersionRecord, expected: str,
                 when: dt.datetime | None, actor: str, comment: str) -> None:
    for other in versions(session, name):
        if other.state == ACTIVE and other.id != record.id:
            transition(session, other, ACTIVE, state=RETIRED)
            audit(session, name, other.version, "retire", actor, comment)
    transition(session, record, expected, state=ACTIVE, activated_at=when or utcnow())
    _end_experiment(session, name, actor, f"champion changed to version {record.version}")
    session.flush()


def _cancel_schedules(session: Session, name: str, actor: str, why: str) -> None:
    for other in versions(session, name):
        if other.state == SCHEDULED:
            transition(session, other, SCHEDULED, state=APPROVED, activated_at=None)
            audit(session, name, other.version, "unschedule", actor, why)


def check_tiers_in_use(session: Session, name: str, strategy: Strategy) -> None:
    """Refuse a version that lacks a dealer tier the dealer table uses (and does not rename)."""
    used = {t for t in session.scalars(select(DealerRecord.tier).distinct()) if t is not None}
    missing = sorted(t for t in used if strategy.dealer_tier(t) is None)
    if missing:
        raise Conflict(f"{name}: dealers use tiers {missing} that this version neither has nor "
                       "renames (dealer_tiers.renamed)")


def _check_activatable(session: Session, record: StrategyVersionRecord) -> None:
    if record.name == MONITORING:
        return  # the monitoring policy: activated like the credit strategy, no tiers to check
    if record.name != DEFAULT_NAME:
        raise Conflict(f"only {DEFAULT_NAME!r} decides credit limits: {record.name!r} can be "
                       "drafted, approved and simulated, not activated")
    check_tiers_in_use(session, record.name, load_strategy(document_of(record)))


def activate(session: Session, principal: Principal, name: str, version: int, comment: str,
             reviewed_hash: str, effective_at: dt.datetime | None = None
             ) -> StrategyVersionRecord:
    record = get_version(session, name, version)
    if record.state != APPROVED:
        raise Conflict(f"{name}:{version} is {record.state}: only an approved version can be "
                       "activated")
    check_reviewed(record, reviewed_hash)
    _check_activatable(session, record)
    base = active(session, name)
    changes = diff(document_of(base), document_of(record)) if base is not None else None
    if effective_at is not None and aware(effective_at) > utcnow():
        transition(session, record, APPROVED, state=SCHEDULED, activated_at=effective_at)
        audit(session, name, version, "schedule", principal.name,
              f"{comment} (effective {effective_at.isoformat()})", changes)
        return record
    _cancel_schedules(session, name, principal.name, f"superseded by activating {version}")
    _make_active(session, name, record, APPROVED, None, principal.name, comment)
    audit(session, name, version, "activate", principal.name, comment, changes)
    return record


def cancel_schedule(session: Session, principal: Principal, name: str, version: int,
                    comment: str) -> StrategyVersionRecord:
    """A scheduled version goes back to approved; it can be activated or scheduled again."""
    record = get_version(session, name, version)
    if record.state != SCHEDULED:
        raise Conflict(f"{name}:{version} is {record.state}: only a scheduled version's "
                       "schedule can be cancelled")
    transition(session, record, SCHEDULED, state=APPROVED, activated_at=None)
    audit(session, name, version, "unschedule", principal.name, comment)
    return record


def can_roll_back_to(record: StrategyVersionRecord) -> bool:
    """An earlier approved version (retired, or approved and never activated; the shipped
    default counts as approved)."""
    was_approved = record.approved_by is not None or record.author == SYSTEM
    return record.state in (RETIRED, APPROVED) and was_approved


def rollback(session: Session, principal: Principal, name: str, to_version: int,
             comment: str) -> StrategyVersionRecord:
    record = get_version(session, name, to_version)
    if not can_roll_back_to(record):
        raise Conflict(f"{name}:{to_version} is {record.state}: rollback needs an earlier "
                       "approved version")
    _check_activatable(session, record)
    base = active(session, name)
    changes = diff(document_of(base), document_of(record)) if base is not None else None
    _cancel_schedules(session, name, principal.name, f"superseded by rollback to {to_version}")
    _make_active(session, name, record, record.state, None, principal.name, comment)
    audit(session, name, to_version, "rollback", principal.name, comment, changes)
    return record
