"""Strategy versions as engine objects: the active one (the shipped default seeded as version 1
of `default`), any version by number; parsed documents are cached by content hash."""
from __future__ import annotations

import functools
import json
import weakref

from sqlalchemy import Engine, Row, select
from sqlalchemy.orm import Session

from strategies.document import Strategy, default_strategy, load_strategy
from strategies.monitoring import Policy, load_policy

from ..errors import NotFound
from ..store.tables import StrategyVersionRecord
from . import activation, lifecycle

DEFAULT_NAME = lifecycle.DEFAULT_NAME


@functools.lru_cache(maxsize=64)
def _parse(content_hash: str, document_json: str) -> Strategy:
    return load_strategy(json.loads(document_json))


@functools.lru_cache(maxsize=16)
def _parse_policy(content_hash: str, document_json: str) -> Policy:
    return load_policy(json.loads(document_json))


def active_policy(session: Session) -> tuple[int, Policy]:
    """The active monitoring policy's version and the policy; the shipped one
    (strategies/monitoring.yaml) becomes version 1, active, when the name has none."""
    name = lifecycle.MONITORING
    lifecycle.seed_monitoring(session)
    record = activation.active_version(session, name)
    if record is None:
        raise NotFound(f"{name!r} has no active version")
    return record.version, _parse_policy(record.content_hash, record.document_json)


def strategy_of(record: StrategyVersionRecord | Row) -> Strategy:
    return _parse(record.content_hash, record.document_json)


# Engines whose database already holds `default` (versions are never deleted): asked once per
# process, not on every decision.
_SEEDED: weakref.WeakSet[Engine] = weakref.WeakSet()


def seed_default(session: Session) -> None:
    """The shipped default becomes `default` version 1, active, if the name has no versions."""
    engine = session.get_bind()
    if isinstance(engine, Engine) and engine in _SEEDED:
        return
    query = select(StrategyVersionRecord.id).where(
        StrategyVersionRecord.name == DEFAULT_NAME).limit(1)
    if isinstance(engine, Engine):
        with engine.connect() as other:  # another connection sees only what is committed
            if other.scalar(query) is not None:
                _SEEDED.add(engine)
                return
    if session.scalar(query) is None:
        shipped = default_strategy()
        lifecycle.seed_shipped(session, DEFAULT_NAME, shipped.raw, shipped.content_hash,
                               "shipped default strategy (strategies/default.yaml)")


def active_strategy(session: Session, name: str = DEFAULT_NAME
                    ) -> tuple[StrategyVersionRecord | Row, Strategy]:
    """The active version (read-only: a Core row, see `activation.active_version`) and its
    parsed strategy."""
    if name == DEFAULT_NAME:
        seed_default(session)
    record = activation.active_version(session, name)
    if record is None:
        raise NotFound(f"strategy {name!r} has no active version")
    return record, strategy_of(record)


def version(session: Session, name: str, number: int) -> Strategy:
    return strategy_of(lifecycle.get_version(session, name, number))
