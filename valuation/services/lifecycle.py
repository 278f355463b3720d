"""The strategy lifecycle service: immutable versions, draft edits with optimistic concurrency,
maker-checker approval, and the append-only audit log (activation lives in `activation`).

States: draft -> submitted -> approved -> active -> retired (scheduled: approved with a
future effective time). Every state change is a compare-and-set on (state, revision) that bumps
the revision, so an edit, a submit and an approval can never interleave: of two racing writers
exactly one wins. The approver names the content hash they reviewed; a mismatch is refused."""
from __future__ import annotations

import json
from typing import Any

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from strategies.diff import diff
from strategies.document import StrategyError, canonical_json, load_strategy, monotonicity_warnings
from strategies.monitoring import NAME as MONITORING_NAME
from strategies.monitoring import default_policy, load_policy

from ..errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    UnsupportedMediaType,
)
from ..store.tables import StrategyAuditRecord, StrategyVersionRecord, aware, core, utcnow
from .keys import Principal

DRAFT, SUBMITTED, APPROVED, SCHEDULED, ACTIVE, RETIRED = (
    "draft", "submitted", "approved", "scheduled", "active", "retired")
# decisions use this strategy; other names can be drafted, approved and simulated only
DEFAULT_NAME = "default"
# the in-loan monitoring policy lives under this name, with the same lifecycle (its documents
# are `kind: monitoring`, checked by strategies.monitoring)
MONITORING = MONITORING_NAME


COMMENT_LENGTH = (3, 2000)  # a comment on a lifecycle step: its bounds (API and console)


def content_hash_of(name: str, clean: dict[str, Any]) -> str:
    """The document's content hash, after checking it as its kind (credit or monitoring)."""
    if name == MONITORING:
        return load_policy(clean).content_hash
    return load_strategy(clean).content_hash


def seed_monitoring(session: Session) -> None:
    """The shipped monitoring policy (strategies/monitoring.yaml) becomes version 1 of
    `monitoring`, active, when the name has no versions yet."""
    if session.scalar(select(StrategyVersionRecord.id).where(
            StrategyVersionRecord.name == MONITORING).limit(1)) is not None:
        return
    shipped = default_policy()
    seed_shipped(session, MONITORING, shipped.raw, shipped.content_hash,
                 "shipped monitoring policy (strategies/monitoring.yaml)")


_VERSIONS = core(StrategyVersionRecord)


def seed_shipped(session: Session, name: str, document: dict[str, Any], content_hash: str,
                 comment: str) -> None:
    """A shipped document becomes version 1 of `name`, active, audited as the system's seed.
    On a new database the first requests of two workers may both seed: the insert does nothing
    where the other's version 1 has landed first (it waits for the other's commit), so both go
    on with that one instead of failing on the unique version; only the one that inserted it
    audits it."""
    new = (sqlite.insert(_VERSIONS) if session.get_bind().dialect.name == "sqlite"
           else postgresql.insert(_VERSIONS))
    insert = new.values(
        name=name, version=1, state=ACTIVE, document_json=canonical_json(document),
        content_hash=content_hash, author="system", approved_by="system",
        activated_at=utcnow(), revision=1).on_conflict_do_nothing(
        index_elements=["name", "version"]).returning(_VERSIONS.c.id)
    if session.connection().execute(insert).first() is not None:  # no row: the other's landed
        audit(session, name, 1, "seed", "system", comment)


def require_credit(name: str) -> None:
    """Simulations and experiments are for credit strategies, not the monitoring policy."""
    if name == MONITORING:
        raise Conflict(f"{name!r} is the monitoring policy: it is not simulated on credit "
                       "applications nor trialled as a challenger")


def etag(record: StrategyVersionRecord) -> str:
    return f'"{record.name}-{record.version}-r{record.revision}"'


def parse_document(body: bytes, content_type: str) -> dict[str, Any]:
    """A strategy document from a JSON or YAML request body, read as its Content-Type says
    (application/json; application/yaml, text/yaml or application/x-yaml); a body of any
    other type is a 415 (an empty one, a 422)."""
    if body and "yaml" not in content_type and "json" not in content_type:
        raise UnsupportedMediaType(
            "send the document as JSON (Content-Type: application/json) or YAML "
            "(Content-Type: application/yaml); this request's Content-Type is "
            f"{content_type.split(';')[0].strip() or 'missing'}")
    try:
        if "yaml" in content_type:
            document = yaml.safe_load(body.decode("utf-8"))
        else:
            document = json.loads(body.decode("utf-8"))
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput("the body is not a JSON or YAML document",
                           errors={"json": {"_schema": [str(exc)[:200]]}}) from exc
    if not isinstance(document, dict):
        raise InvalidInput("a strategy document is a mapping",
                           errors={"json": {"_schema": ["not a mapping"]}})
    return document


def validate(name: str, document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The clean document (version dropped, name checked) and its monotonicity warnings."""
    clean = {k: v for k, v in document.items() if k != "version"}
    if clean.get("name") != name:
        raise InvalidInput(f"the document's name must be {name!r}",
                           errors={"json": {"name": [f"must be {name!r}"]}})
    try:
        if name == MONITORING:
            load_policy(clean)
            return json.loads(canonical_json(clean)), []
        strategy = load_strategy(clean)
    except StrategyError as exc:
        raise InvalidInput("invalid strategy document", errors={"json": exc.errors}) from exc
    return json.loads(canonical_json(clean)), monotonicity_warnings(strategy)


def audit(session: Session, name: str, version: int | None, action: str, actor: str,
          comment: str | None = None, changes: list[dict[str, Any]] | None = None) -> None:
    session.add(StrategyAuditRecord(name=name, version=version, action=action, actor=actor,
                                    comment=comment,
                                    diff_json=canonical_json(changes) if changes else None))


def get_version(session: Session, name: str, version: int) -> StrategyVersionRecord:
    record = session.scalar(select(StrategyVersionRecord).where(
        StrategyVersionRecord.name == name, StrategyVersionRecord.version == version))
    if record is None:
        raise NotFound(f"strategy {name}:{version} not found")
    return record


def document_of(record: StrategyVersionRecord) -> dict[str, Any]:
    return json.loads(record.document_json)


def versions(session: Session, name: str) -> list[StrategyVersionRecord]:
    return list(session.scalars(select(StrategyVersionRecord).where(
        StrategyVersionRecord.name == name).order_by(StrategyVersionRecord.version)))


def names(session: Session) -> list[str]:
    return list(session.scalars(select(StrategyVersionRecord.name).distinct().order_by(
        StrategyVersionRecord.name)))


def transition(session: Session, record: StrategyVersionRecord, expected: str, **values: Any
               ) -> None:
    """Compare-and-set: move `record` out of state `expected` at the revision this session read,
    bumping the revision; refused (409) when someone changed it in between."""
    updated = session.execute(
        update(StrategyVersionRecord)
        .where(StrategyVersionRecord.id == record.id, StrategyVersionRecord.state == expected,
               StrategyVersionRecord.revision == record.revision)
        .values(revision=record.revision + 1, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False))
    if getattr(updated, "rowcount", 0) != 1:
        raise Conflict(f"{record.name}:{record.version} was changed by someone else; read it "
                       "again")
    session.expire(record)


def check_reviewed(record: StrategyVersionRecord, reviewed_hash: str) -> None:
    if reviewed_hash != record.content_hash:
        raise PreconditionFailed(f"{record.name}:{record.version} has content "
                                 f"{record.content_hash}, not the {reviewed_hash} you reviewed")


def create_draft(session: Session, principal: Principal, name: str,
                 document: dict[str, Any]) -> tuple[StrategyVersionRecord, list[str]]:
    """A new draft numbered after the highest version; a concurrent create that took the same
    number makes this one a 409 (retry), never a 500."""
    clean, warnings = validate(name, document)
    if name == MONITORING:
        seed_monitoring(session)  # the shipped policy is version 1, the base of the diff
    latest = session.scalar(select(func.max(StrategyVersionRecord.version)).where(
        StrategyVersionRecord.name == name)) or 0
    record = StrategyVersionRecord(
        name=name, version=latest + 1, state=DRAFT, document_json=canonical_json(clean),
        content_hash=content_hash_of(name, clean), author=principal.name, revision=1)
    session.add(record)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"version {latest + 1} of {name!r} was just created by someone else; "
                       "send the document again") from exc
    base = session.scalar(select(StrategyVersionRecord).where(
        StrategyVersionRecord.name == name, StrategyVersionRecord.state == ACTIVE))
    changes = diff(document_of(base), clean) if base is not None else None
    audit(session, name, record.version, "create", principal.name, None, changes)
    return record, warnings


def update_draft(session: Session, principal: Principal, name: str, version: int,
                 document: dict[str, Any], if_match: str | None
                 ) -> tuple[StrategyVersionRecord, list[str]]:
    """Replace a draft's document; the caller's If-Match must be the current ETag."""
    if not if_match:
        raise PreconditionRequired("If-Match is required: send the ETag you read")
    record = get_version(session, name, version)
    if record.state != DRAFT:
        raise Conflict(f"{name}:{version} is {record.state}: only drafts can be edited")
    clean, warnings = validate(name, document)
    old = document_of(record)
    # compare-and-set on the revision: exactly one of two writers with the same ETag wins
    if if_match != etag(record):
        raise PreconditionFailed(f"stale ETag {if_match}; current is {etag(record)}")
    expected = record.revision
    updated = session.execute(
        update(StrategyVersionRecord)
        .where(StrategyVersionRecord.id == record.id, StrategyVersionRecord.state == DRAFT,
               StrategyVersionRecord.revision == expected)
        .values(document_json=canonical_json(clean), content_hash=content_hash_of(name, clean),
                revision=expected + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    if getattr(updated, "rowcount", 0) != 1:
        raise PreconditionFailed(f"{name}:{version} was changed by someone else (edited, "
                                 "submitted or approved); read it again")
    session.expire(record)
    audit(session, name, version, "edit", principal.name, None, diff(old, clean))
    return record, warnings


def submit(session: Session, principal: Principal, name: str, version: int,
           comment: str) -> StrategyVersionRecord:
    record = get_version(session, name, version)
    if record.state != DRAFT:
        raise Conflict(f"{name}:{version} is {record.state}: only a draft can be submitted")
    transition(session, record, DRAFT, state=SUBMITTED, submitted_by=principal.name)
    audit(session, name, version, "submit", principal.name, comment)
    return record


def is_maker(record: StrategyVersionRecord, principal: Principal) -> bool:
    """Whether `principal` wrote or submitted the version (and so may not approve it)."""
    return principal.name in (record.author, record.submitted_by)


def approve(session: Session, principal: Principal, name: str, version: int,
            comment: str, reviewed_hash: str) -> StrategyVersionRecord:
    """Maker-checker: another person approves exactly the content they reviewed."""
    record = get_version(session, name, version)
    if record.state != SUBMITTED:
        raise Conflict(f"{name}:{version} is {record.state}: only a submitted version can be "
                       "approved")
    if is_maker(record, principal):
        raise Forbidden("maker-checker: the approver must not be the author of the change")
    check_reviewed(record, reviewed_hash)
    transition(session, record, SUBMITTED, state=APPROVED, approved_by=principal.name)
    audit(session, name, version, "approve", principal.name, comment)
    return record


def audit_log(session: Session, name: str, actor: str | None = None,
              action: str | None = None) -> list[dict[str, Any]]:
    """The strategy's audit entries, oldest first; only `actor`'s or `action`'s when given."""
    query = select(StrategyAuditRecord).where(StrategyAuditRecord.name == name)
    if actor:
        query = query.where(StrategyAuditRecord.actor == actor)
    if action:
        query = query.where(StrategyAuditRecord.action == action)
    rows = session.scalars(query.order_by(StrategyAuditRecord.id))
    return [{"version": r.version, "action": r.action, "actor": r.actor,
             "at": aware(r.at).isoformat(timespec="seconds"), "comment": r.comment,
             "diff": json.loads(r.diff_json) if r.diff_json else []} for r in rows]


def version_body(record: StrategyVersionRecord, with_document: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": record.name, "version": record.version, "state": record.state,
        "author": record.author, "submitted_by": record.submitted_by,
        "approved_by": record.approved_by, "hash": record.content_hash,
        "created_at": aware(record.created_at).isoformat(timespec="seconds"),
        "activated_at": (aware(record.activated_at).isoformat(timespec="seconds")
                         if record.activated_at else None),
        "etag": etag(record)}
    if with_document:
        body["document"] = document_of(record)
    return body
