"""Channel (dealer) risk: per dealer over the policy's rolling window, the applications, the
share declared above the valuation by more than the tolerance (the recognised price was cut),
the median price gap, refer and decline rates, funded loans now in alert and early arrears;
a score with its drivers and a proposed tier (`strategies.monitoring.channel_scores`). A tier
change is applied only through maker-checker: one person proposes, another applies it."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from strategies.document import ratio_text
from strategies.monitoring import CHANNEL_DRIVERS, CHANNEL_INDICATORS, channel_scores

from .. import clock
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..store.tables import (
    CreditDecisionRecord,
    DealerRecord,
    DealerTierChangeRecord,
    LoanRecord,
    MonitoringAlertRecord,
    iso,
    utcnow,
)
from . import strategy_store
from .keys import Principal

SORTS = ("score", "applications", "dealer")
EARLY_ARREARS_DAYS = 30


def _gap_bps(response: dict[str, Any]) -> int:
    return int((Decimal(str(response.get("price_gap_pct", "0"))) * 10_000).to_integral_value())


def metrics(session: Session, as_of: dt.date, window_days: int) -> pd.DataFrame:
    """One row per dealer with any application or loan: counts and indicators (basis points)."""
    start = dt.datetime.combine(as_of - dt.timedelta(days=window_days), dt.time(), dt.UTC)
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), dt.UTC)
    rows: dict[str, dict[str, Any]] = {}

    def dealer(dealer_id: str) -> dict[str, Any]:
        return rows.setdefault(dealer_id, {"applications": 0, "inflated": 0, "gaps": [],
                                           "declines": 0, "refers": 0, "loans": 0,
                                           "in_alert": 0, "early_loans": 0, "early_late": 0})

    decisions = session.execute(select(CreditDecisionRecord.request_json,
                                       CreditDecisionRecord.response_json)
                                .where(CreditDecisionRecord.created_at >= start,
                                       CreditDecisionRecord.created_at < end))
    for request_json, response_json in decisions:
        request, response = json.loads(request_json), json.loads(response_json)
        row = dealer(str(request["dealer"]["id"]))
        row["applications"] += 1
        row["inflated"] += int(response["recognized_price"] < response["declared_price"])
        row["gaps"].append(_gap_bps(response))
        row["declines"] += int(response["outcome"] == "decline")
        row["refers"] += int(response["outcome"] == "refer")
    window_start = as_of - dt.timedelta(days=window_days)
    for dealer_id, funded_at, dpd in session.execute(
            select(LoanRecord.dealer_id, LoanRecord.funded_at, LoanRecord.days_past_due)
            .where(LoanRecord.status == "active")):
        row = dealer(dealer_id)
        row["loans"] += 1
        if funded_at >= window_start:
            row["early_loans"] += 1
            row["early_late"] += int((dpd or 0) >= EARLY_ARREARS_DAYS)
    for dealer_id, count in session.execute(
            select(MonitoringAlertRecord.dealer_id, func.count())
            .where(MonitoringAlertRecord.state != "cleared")
            .group_by(MonitoringAlertRecord.dealer_id)):
        dealer(dealer_id)["in_alert"] = int(count)
    frame = pd.DataFrame([{"dealer_id": d, **r} for d, r in sorted(rows.items())],
                         columns=["dealer_id", "applications", "inflated", "gaps", "declines",
                                  "refers", "loans", "in_alert", "early_loans", "early_late"])

    def share(part: str, whole: str) -> np.ndarray:
        num, den = frame[part].to_numpy(np.int64), frame[whole].to_numpy(np.int64)
        return np.where(den > 0, (2 * num * 10_000 + den) // (2 * np.maximum(den, 1)), 0)

    frame["inflated_share"] = share("inflated", "applications")
    frame["median_gap"] = [int(np.median(g)) if g else 0 for g in frame["gaps"]]
    frame["decline_rate"] = share("declines", "applications")
    frame["refer_rate"] = share("refers", "applications")
    frame["alert_share"] = share("in_alert", "loans")
    frame["early_arrears"] = share("early_late", "early_loans")
    return frame.drop(columns=["gaps"])


def risk(session: Session, as_of: dt.date | None = None, sort: str = "score"
         ) -> dict[str, Any]:
    """Every dealer's channel risk under the active monitoring policy."""
    if sort not in SORTS:
        raise InvalidInput(f"sort by one of {', '.join(SORTS)}",
                           errors={"query": {"sort": ["unknown sort"]}})
    as_of = as_of or clock.today()
    version, policy = strategy_store.active_policy(session)
    frame = metrics(session, as_of, policy.channel["window_days"])
    scored = channel_scores(frame, policy) if len(frame) else pd.DataFrame(
        columns=["score", "proposed_tier", "drivers"])
    tiers = {d.id: d.tier for d in session.scalars(select(DealerRecord))}
    items = [_item(row, s, tiers.get(row.dealer_id)) for row, s in zip(
        frame.itertuples(index=False), scored.itertuples(index=False), strict=True)]
    if sort == "score":
        items.sort(key=lambda i: (-(i["score"] if i["score"] is not None else -1),
                                  i["dealer_id"]))
    elif sort == "applications":
        items.sort(key=lambda i: (-i["applications"], i["dealer_id"]))
    return {"as_of": str(as_of), "window_days": policy.channel["window_days"],
            "policy_version": version, "dealers": items}


def _item(row: Any, scored: Any, tier: str | None) -> dict[str, Any]:
    score = None if pd.isna(scored.score) else int(scored.score)
    return {"dealer_id": row.dealer_id, "tier": tier, "applications": int(row.applications),
            "loans": int(row.loans), "loans_in_alert": int(row.in_alert),
            **{name: ratio_text(getattr(row, name)) for name in CHANNEL_INDICATORS},
            "score": score, "proposed_tier": scored.proposed_tier,
            "drivers": [{"code": d, **CHANNEL_DRIVERS[d]} for d in scored.drivers]}


def dealer_risk(session: Session, dealer_id: str, as_of: dt.date | None = None
                ) -> dict[str, Any]:
    if session.get(DealerRecord, dealer_id) is None:
        raise NotFound(f"no dealer {dealer_id}")
    found = [d for d in risk(session, as_of)["dealers"] if d["dealer_id"] == dealer_id]
    if found:
        return found[0]
    return {"dealer_id": dealer_id, "applications": 0, "loans": 0, "score": None,
            "proposed_tier": None, "drivers": []}


def propose(session: Session, principal: Principal, dealer_id: str, tier: str, comment: str
            ) -> dict[str, Any]:
    """Propose a tier (of the active credit strategy) for a dealer, with the risk behind it."""
    record = session.get(DealerRecord, dealer_id)
    if record is None:
        raise NotFound(f"no dealer {dealer_id}")
    _, strategy = strategy_store.active_strategy(session)
    if strategy.dealer_tier(tier) is None:
        raise InvalidInput(f"unknown tier {tier}", errors={"json": {"tier": [
            f"one of {list(strategy.dealer_tiers)}"]}})
    if tier == record.tier:
        raise Conflict(f"dealer {dealer_id} is already {tier}")
    change = DealerTierChangeRecord(
        dealer_id=dealer_id, from_tier=record.tier, to_tier=tier, state="proposed",
        proposed_by=principal.name, proposed_at=utcnow(), comment=comment,
        reason_json=json.dumps(dealer_risk(session, dealer_id), ensure_ascii=False))
    session.add(change)
    session.flush()
    return change_body(change)


def decide(session: Session, principal: Principal, change_id: int, approve: bool,
           comment: str) -> dict[str, Any]:
    """Apply (or reject) a proposed tier change; the proposer may not decide it."""
    change = session.get(DealerTierChangeRecord, change_id)
    if change is None:
        raise NotFound(f"no tier change {change_id}")
    if change.state != "proposed":
        raise Conflict(f"tier change {change_id} is already {change.state}")
    if change.proposed_by == principal.name:
        raise Forbidden("maker-checker: the proposer of a tier change may not decide it")
    dealer = session.get(DealerRecord, change.dealer_id)
    assert dealer is not None
    if approve and dealer.tier != change.from_tier:
        raise Conflict(f"dealer {dealer.id} changed tier since the proposal "
                       f"({change.from_tier} -> {dealer.tier}); propose again")
    change.state = "applied" if approve else "rejected"
    change.decided_by, change.decided_at, change.decision_comment = (
        principal.name, utcnow(), comment)
    if approve:
        dealer.tier = change.to_tier
    return change_body(change)


def changes(session: Session, dealer_id: str) -> list[dict[str, Any]]:
    return [change_body(c) for c in session.scalars(
        select(DealerTierChangeRecord).where(DealerTierChangeRecord.dealer_id == dealer_id)
        .order_by(DealerTierChangeRecord.id))]


def change_body(change: DealerTierChangeRecord) -> dict[str, Any]:
    return {"id": change.id, "dealer_id": change.dealer_id, "from_tier": change.from_tier,
            "to_tier": change.to_tier, "state": change.state,
            "proposed_by": change.proposed_by,
            "proposed_at": iso(change.proposed_at),
            "comment": change.comment, "decided_by": change.decided_by,
            "decided_at": iso(change.decided_at), "decision_comment": change.decision_comment,
            "risk": json.loads(change.reason_json)}
