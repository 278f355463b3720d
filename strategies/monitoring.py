"""The in-loan monitoring policy and its rules: pure functions of a pandas frame (no Flask, no
database, no model), so that every engine that values the loans (pandas in process, Spark per
partition) grades them with the same code.

`evaluate(loans, policy)` takes one row per loan, already valued at the as-of date, and returns
its LTV now (outstanding balance / lending value now) and at funding (principal / lending value
then) in basis points, the changes since funding, the weak-rule score, the grade (1-5), the
action and the rule codes that fired. The grade is the score's grade, raised to the grade of
any strong rule that fired; the action is the more severe of that grade's action and the
actions of the strong rules that fired. Money is whole currency units (int64) and ratios whole
basis points, so two engines agree to the unit.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from .document import StrategyError, bps, content_hash

ACTIONS = ("none", "watch", "contact", "reinspect", "call_loan")  # by severity
GRADES = (1, 2, 3, 4, 5)
DEFAULT_PATH = Path(__file__).with_name("monitoring.yaml")
NAME = "monitoring"

# the rule codes with their texts, as the credit reasons are
RULES: dict[str, dict[str, str]] = {
    "LTV_OVER": {"zh": "当前贷款价值比超过上限", "en": "Current LTV above the limit"},
    "FLOOD_OR_FIRE": {"zh": "放款后报告水泡或火烧", "en": "Flood or fire reported after funding"},
    "VALUE_DROP": {"zh": "车辆价值自放款以来大幅下跌",
                   "en": "Vehicle value fell sharply since funding"},
    "LTV_DRIFT": {"zh": "贷款价值比自放款以来上升", "en": "LTV rose since funding"},
    "DAYS_PAST_DUE": {"zh": "逾期", "en": "Payments past due"},
    "DEALER_WATCH": {"zh": "经销商在观察名单", "en": "Dealer on the watch list"},
    "BATTERY_SOH": {"zh": "电池健康度低于车龄预期", "en": "Battery health below that expected "
                                                         "for its age"},
    "LOW_CONFIDENCE": {"zh": "估值置信度低", "en": "Low confidence in the current value"},
}
# the columns `evaluate` needs
INPUTS = ("principal", "balance", "value_now", "lending_now", "value_funded", "lending_funded",
          "days_past_due", "flood_or_fire_after_funding", "dealer_watch", "nev",
          "battery_soh_pct", "age_years", "confidence_level")


@dataclass(frozen=True)
class Policy:
    """A validated monitoring policy; ratios in basis points, points and grades as ints."""

    raw: dict[str, Any]
    content_hash: str
    ltv_over_bps: int
    ltv_over: tuple[int, str]  # grade, action
    flood_or_fire: tuple[int, str]
    value_drop_bps: int
    value_drop: tuple[int, str]
    drift_bps: int
    drift_points: int
    dpd_bands: tuple[tuple[int, int], ...]  # (from_days, points), ascending
    watch_points: int
    soh_loss_per_year: float
    soh_margin: float
    soh_points: int
    low_confidence_points: int
    grade_from_score: tuple[int, ...]  # the lowest score of grades 2..5
    actions: tuple[str, ...]  # the action of grades 1..5
    channel: dict[str, Any]  # the channel-risk section, ratios as basis points


def _ratio(**kw: Any) -> fields.Decimal:
    return fields.Decimal(required=True, validate=validate.Range(0, 5, min_inclusive=False),
                          **kw)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


GRADE = fields.Integer(required=True, strict=True, validate=validate.OneOf(GRADES))
ACTION = fields.String(required=True, validate=validate.OneOf(ACTIONS))
POINTS = fields.Integer(required=True, strict=True, validate=validate.Range(0, 100))


class _Threshold(_Strict):
    above = _ratio()
    grade = GRADE
    action = ACTION


class _Flagged(_Strict):
    grade = GRADE
    action = ACTION


class _Strong(_Strict):
    ltv_over = fields.Nested(_Threshold, required=True)
    flood_or_fire = fields.Nested(_Flagged, required=True)
    value_drop = fields.Nested(_Threshold, required=True)


class _Drift(_Strict):
    above = _ratio()
    points = POINTS


class _Band(_Strict):
    from_days = fields.Integer(required=True, strict=True, validate=validate.Range(1, 3650))
    points = POINTS


class _Points(_Strict):
    points = POINTS


class _Watch(_Strict):
    points = POINTS
    tiers = fields.List(fields.String(validate=validate.Length(min=1, max=16)), load_default=list,
                        metadata={"description": "dealer tiers on the watch list"})


class _Soh(_Strict):
    expected_loss_pct_per_year = fields.Decimal(required=True, validate=validate.Range(0, 20))
    margin_pct = fields.Decimal(required=True, validate=validate.Range(0, 50))
    points = POINTS


class _Weak(_Strict):
    ltv_drift = fields.Nested(_Drift, required=True)
    days_past_due = fields.List(fields.Nested(_Band), required=True,
                                validate=validate.Length(min=1))
    dealer_watch = fields.Nested(_Watch, required=True)
    battery_soh = fields.Nested(_Soh, required=True)
    low_confidence = fields.Nested(_Points, required=True)

    @validates_schema
    def bands_ascend(self, data: dict[str, Any], **kwargs: Any) -> None:
        days = [b["from_days"] for b in data.get("days_past_due", [])]
        if days != sorted(set(days)):
            raise ValidationError("bands must ascend by from_days, each once", "days_past_due")


class _Indicator(_Strict):
    above = _ratio()
    points = POINTS


class _TierStep(_Strict):
    min_score = fields.Integer(required=True, strict=True, validate=validate.Range(0, 1000))
    tier = fields.String(required=True, validate=validate.Length(min=1, max=16))


class _Channel(_Strict):
    window_days = fields.Integer(required=True, strict=True, validate=validate.Range(7, 3650))
    min_applications = fields.Integer(required=True, strict=True,
                                      validate=validate.Range(1, 100_000))
    inflated_share = fields.Nested(_Indicator, required=True)
    median_gap = fields.Nested(_Indicator, required=True)
    decline_rate = fields.Nested(_Indicator, required=True)
    refer_rate = fields.Nested(_Indicator, required=True)
    alert_share = fields.Nested(_Indicator, required=True)
    early_arrears = fields.Nested(_Indicator, required=True)
    tiers = fields.List(fields.Nested(_TierStep), required=True, validate=validate.Length(min=1))

    @validates_schema
    def tiers_ascend(self, data: dict[str, Any], **kwargs: Any) -> None:
        scores = [t["min_score"] for t in data.get("tiers", [])]
        if not scores or scores[0] != 0 or scores != sorted(set(scores)):
            raise ValidationError("tiers start at min_score 0 and rise", "tiers")


class PolicySchema(_Strict):
    kind = fields.String(required=True, validate=validate.Equal("monitoring"))
    name = fields.String(required=True, validate=validate.Equal(NAME))
    description = fields.String(load_default="")
    strong = fields.Nested(_Strong, required=True)
    weak = fields.Nested(_Weak, required=True)
    grade_from_score = fields.Dict(keys=fields.String(validate=validate.OneOf(["2", "3", "4",
                                                                                "5"])),
                                   values=fields.Integer(strict=True,
                                                         validate=validate.Range(1, 1000)),
                                   required=True)
    actions = fields.Dict(keys=fields.String(validate=validate.OneOf(["1", "2", "3", "4", "5"])),
                          values=fields.String(validate=validate.OneOf(ACTIONS)), required=True)
    channel = fields.Nested(_Channel, required=True)

    @validates_schema
    def grades_complete(self, data: dict[str, Any], **kwargs: Any) -> None:
        scores = data.get("grade_from_score", {})
        if sorted(scores) != ["2", "3", "4", "5"]:
            raise ValidationError("give the lowest score of each grade 2, 3, 4 and 5",
                                  "grade_from_score")
        ordered = [scores[g] for g in ("2", "3", "4", "5")]
        if ordered != sorted(set(ordered)):
            raise ValidationError("scores must rise with the grade", "grade_from_score")
        actions = data.get("actions", {})
        if sorted(actions) != ["1", "2", "3", "4", "5"]:
            raise ValidationError("name the action of each grade 1 to 5", "actions")
        severities = [ACTIONS.index(actions[g]) for g in ("1", "2", "3", "4", "5")]
        if severities != sorted(severities):
            raise ValidationError("a worse grade cannot ask for a milder action", "actions")


def load_policy(document: dict[str, Any]) -> Policy:
    """A validated policy, or StrategyError with the errors by field."""
    try:
        data = PolicySchema().load(document)
    except ValidationError as exc:
        raise StrategyError(exc.messages) from exc  # type: ignore[arg-type]
    strong, weak = data["strong"], data["weak"]
    for path, value in (("strong.ltv_over.above", strong["ltv_over"]["above"]),
                        ("strong.value_drop.above", strong["value_drop"]["above"]),
                        ("weak.ltv_drift.above", weak["ltv_drift"]["above"])):
        if value != value.quantize(Decimal("0.0001")):
            raise StrategyError({path: ["at most 4 decimals"]})
    return Policy(
        raw=document, content_hash=content_hash(document),
        ltv_over_bps=bps(strong["ltv_over"]["above"]),
        ltv_over=(strong["ltv_over"]["grade"], strong["ltv_over"]["action"]),
        flood_or_fire=(strong["flood_or_fire"]["grade"], strong["flood_or_fire"]["action"]),
        value_drop_bps=bps(strong["value_drop"]["above"]),
        value_drop=(strong["value_drop"]["grade"], strong["value_drop"]["action"]),
        drift_bps=bps(weak["ltv_drift"]["above"]), drift_points=weak["ltv_drift"]["points"],
        dpd_bands=tuple((b["from_days"], b["points"]) for b in weak["days_past_due"]),
        watch_points=weak["dealer_watch"]["points"],
        soh_loss_per_year=float(weak["battery_soh"]["expected_loss_pct_per_year"]),
        soh_margin=float(weak["battery_soh"]["margin_pct"]),
        soh_points=weak["battery_soh"]["points"],
        low_confidence_points=weak["low_confidence"]["points"],
        grade_from_score=tuple(data["grade_from_score"][g] for g in ("2", "3", "4", "5")),
        actions=tuple(data["actions"][g] for g in ("1", "2", "3", "4", "5")),
        channel=_channel(data["channel"]))


CHANNEL_INDICATORS = ("inflated_share", "median_gap", "decline_rate", "refer_rate",
                      "alert_share", "early_arrears")
CHANNEL_DRIVERS: dict[str, dict[str, str]] = {
    "inflated_share": {"zh": "报价高于估值容差的申请占比高",
                       "en": "Many applications declared above the valuation tolerance"},
    "median_gap": {"zh": "报价普遍高于估值", "en": "Declared prices typically above the valuation"},
    "decline_rate": {"zh": "拒绝率高", "en": "High decline rate"},
    "refer_rate": {"zh": "转人工率高", "en": "High refer rate"},
    "alert_share": {"zh": "在贷预警占比高", "en": "Many funded loans in alert"},
    "early_arrears": {"zh": "早期逾期", "en": "Early arrears on recent loans"},
}


def _channel(section: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"window_days": section["window_days"],
                           "min_applications": section["min_applications"],
                           "tiers": tuple((t["min_score"], t["tier"]) for t in section["tiers"])}
    for name in CHANNEL_INDICATORS:
        if section[name]["above"] != section[name]["above"].quantize(Decimal("0.0001")):
            raise StrategyError({f"channel.{name}.above": ["at most 4 decimals"]})
        out[name] = (bps(section[name]["above"]), section[name]["points"])
    return out


def channel_scores(dealers: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Score dealers from their indicators in basis points (columns CHANNEL_INDICATORS, and
    `applications`): each indicator above its threshold adds its points; the proposed tier is
    the last whose min_score the score reaches; a dealer with fewer than min_applications
    applications is not scored (score and tier None)."""
    channel = policy.channel
    score = np.zeros(len(dealers), np.int64)
    fired = {}
    for name in CHANNEL_INDICATORS:
        above, points = channel[name]
        fired[name] = dealers[name].to_numpy(np.int64) > above
        score += fired[name] * points
    enough = dealers["applications"].to_numpy(np.int64) >= channel["min_applications"]
    steps = np.array([s for s, _ in channel["tiers"]])
    tiers = np.array([t for _, t in channel["tiers"]], dtype=object)
    proposed = tiers[np.searchsorted(steps, score, side="right") - 1]
    names = np.array(CHANNEL_INDICATORS)
    hits = np.column_stack([fired[n] for n in CHANNEL_INDICATORS]) if len(dealers) else \
        np.zeros((0, len(CHANNEL_INDICATORS)), bool)
    return pd.DataFrame({
        "score": pd.Series(score, index=dealers.index, dtype="Int64").where(enough),
        "proposed_tier": pd.Series([t if ok else None for t, ok in zip(proposed, enough,
                                                                       strict=True)],
                                   index=dealers.index, dtype=object),
        "drivers": [list(names[row]) if ok else [] for row, ok in zip(hits, enough, strict=True)],
    }, index=dealers.index)


@functools.cache
def default_policy() -> Policy:
    return load_policy(yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8")))


def _ratio_bps(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """round(numerator / denominator * 10,000), half up, in integers (no float drift); -1
    where the denominator is not positive."""
    num = numerator.astype(np.int64) * 10_000
    den = denominator.astype(np.int64)
    safe = np.where(den > 0, den, 1)
    out = (2 * num + safe) // (2 * safe)
    return np.where(den > 0, out, -1)


def evaluate(loans: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Grade each loan. `loans` has the INPUTS columns (money in whole units); returns, in the
    same order: ltv_bps, ltv_funded_bps, ltv_change_bps, value_change_bps, score, grade,
    action and rules (the codes that fired, strong first)."""
    missing = [c for c in INPUTS if c not in loans.columns]
    if missing:
        raise ValueError(f"evaluate needs the columns {missing}")
    n = len(loans)
    balance = loans["balance"].to_numpy(np.int64)
    ltv = _ratio_bps(balance, loans["lending_now"].to_numpy(np.int64))
    ltv_funded = _ratio_bps(loans["principal"].to_numpy(np.int64),
                            loans["lending_funded"].to_numpy(np.int64))
    value_now = loans["value_now"].to_numpy(np.int64)
    value_funded = loans["value_funded"].to_numpy(np.int64)
    drop = _ratio_bps(value_funded - value_now, value_funded)  # positive: the value fell
    dpd = loans["days_past_due"].fillna(0).to_numpy(np.int64)
    nev = loans["nev"].fillna(False).to_numpy(bool)
    soh = loans["battery_soh_pct"].to_numpy(float)
    expected_soh = 100.0 - policy.soh_loss_per_year * loans["age_years"].to_numpy(float)
    fired: dict[str, np.ndarray] = {
        "LTV_OVER": ltv > policy.ltv_over_bps,
        "FLOOD_OR_FIRE": loans["flood_or_fire_after_funding"].fillna(False).to_numpy(bool),
        "VALUE_DROP": drop > policy.value_drop_bps,
        "LTV_DRIFT": (ltv - ltv_funded) > policy.drift_bps,
        "DAYS_PAST_DUE": dpd >= policy.dpd_bands[0][0],
        "DEALER_WATCH": loans["dealer_watch"].fillna(False).to_numpy(bool),
        "BATTERY_SOH": nev & ~np.isnan(soh) & (soh < expected_soh - policy.soh_margin),
        "LOW_CONFIDENCE": (loans["confidence_level"] == "low").to_numpy(bool),
    }
    dpd_points = np.zeros(n, np.int64)
    for from_days, points in policy.dpd_bands:
        dpd_points = np.where(dpd >= from_days, points, dpd_points)
    score = (fired["LTV_DRIFT"] * policy.drift_points + dpd_points
             + fired["DEALER_WATCH"] * policy.watch_points
             + fired["BATTERY_SOH"] * policy.soh_points
             + fired["LOW_CONFIDENCE"] * policy.low_confidence_points).astype(np.int64)
    grade = 1 + np.searchsorted(np.array(policy.grade_from_score), score, side="right")
    severity = np.array([ACTIONS.index(policy.actions[g - 1]) for g in GRADES])[grade - 1]
    for code, (rule_grade, action) in (("LTV_OVER", policy.ltv_over),
                                       ("FLOOD_OR_FIRE", policy.flood_or_fire),
                                       ("VALUE_DROP", policy.value_drop)):
        hit = fired[code]
        grade = np.where(hit, np.maximum(grade, rule_grade), grade)
        severity = np.where(hit, np.maximum(severity, ACTIONS.index(action)), severity)
    # the grade's own action never below what the (possibly raised) grade asks for
    grade_severity = np.array([ACTIONS.index(policy.actions[g - 1]) for g in GRADES])[grade - 1]
    severity = np.maximum(severity, grade_severity)
    # the codes of each row, from its bit pattern (a book has few distinct patterns)
    codes = list(RULES)
    bits = np.zeros(n, np.int64)
    for i, code in enumerate(codes):
        bits |= fired[code].astype(np.int64) << i
    patterns = {int(b): [c for i, c in enumerate(codes) if int(b) >> i & 1]
                for b in np.unique(bits)}
    return pd.DataFrame({
        "ltv_bps": ltv, "ltv_funded_bps": ltv_funded, "ltv_change_bps": ltv - ltv_funded,
        "value_change_bps": -drop, "score": score, "grade": grade.astype(np.int64),
        "action": np.array(ACTIONS)[severity],
        "rules": [list(patterns[b]) for b in bits.tolist()],
    }, index=loans.index)
