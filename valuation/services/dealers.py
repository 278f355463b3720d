"""The dealer table: each dealer's name and risk tier (a tier of the active strategy)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput, NotFound
from ..store.tables import DealerRecord
from . import strategy_store


def put_dealer(session: Session, dealer_id: str, name: str, tier: str | None) -> dict[str, Any]:
    """Create a dealer, or rename one; a tier's old name (the strategy's `renamed`) is stored
    under its new one. A dealer gets its first tier here; once it has one, the tier changes
    only through a tier change approved by another admin (`dealer_risk`): a different tier is
    a 409, and no tier keeps the one it has."""
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
        current = record.tier and (strategy.dealer_tier(record.tier) or record.tier)
        if tier is not None and current is not None and tier != current:
            raise Conflict(f"dealer {dealer_id} is in tier {current}: propose the change to "
                           f"{tier} with POST /v1/dealers/{dealer_id}/tier-changes (another "
                           "admin applies it)", errors={"json": {"tier": [
                               "changes only through a tier change"]}})
        record.name = name
        if current is None:
            record.tier = tier
    session.flush()
    return dealer_body(record)


def get_dealer(session: Session, dealer_id: str) -> dict[str, Any]:
    record = session.get(DealerRecord, dealer_id)
    if record is None:
        raise NotFound(f"no dealer {dealer_id}")
    return dealer_body(record)


def dealer_body(record: DealerRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "tier": record.tier}
