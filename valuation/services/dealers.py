"""The dealer table: each dealer's name and risk tier (a tier of the active strategy)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..errors import InvalidInput, NotFound
from ..store.tables import DealerRecord
from . import strategy_store


def put_dealer(session: Session, dealer_id: str, name: str, tier: str | None) -> dict[str, Any]:
    """Create or replace a dealer; a tier's old name (the strategy's `renamed`) is stored under
    its new one."""
    _, strategy = strategy_store.active_strategy(session)
    if tier is not None:
        known = strategy.dealer_tier(tier)
        if known is None:
            raise InvalidInput(f"tier {tier!r} is not in the active strategy", errors={"json": {
                "tier": [f"one of {list(strategy.dealer_tiers)}"]}})
        tier = known
    record = session.get(DealerRecord, dealer_id)
    if record is None:
        record = DealerRecord(id=dealer_id, name=name, tier=tier)
        session.add(record)
    else:
        record.name, record.tier = name, tier
    session.flush()
    return dealer_body(record)


def get_dealer(session: Session, dealer_id: str) -> dict[str, Any]:
    record = session.get(DealerRecord, dealer_id)
    if record is None:
        raise NotFound(f"no dealer {dealer_id}")
    return dealer_body(record)


def dealer_body(record: DealerRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "tier": record.tier}
