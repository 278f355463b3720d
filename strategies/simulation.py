"""Simulation: a candidate strategy against a baseline over the same applications (pure)."""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from .document import Strategy
from .frame import decide_frame

SAMPLE_CHANGED = 20
BACKTEST_LIMIT = (
    "Backtest limit: past outcomes exist only for applications that were approved and "
    "booked; declined or referred applicants have no repayment history, so a looser candidate "
    "cannot be judged on the applicants it would newly accept (reject inference needed).")


def summary(decisions: pd.DataFrame) -> dict[str, Any]:
    n = len(decisions)
    counts = decisions["outcome"].value_counts()
    limits = decisions["final_limit"].astype("int64")
    return {
        "applications": n,
        "approve": int(counts.get("approve", 0)), "refer": int(counts.get("refer", 0)),
        "decline": int(counts.get("decline", 0)),
        "total_final_limit": int(limits.sum()),
        "mean_final_limit": round(float(limits.mean()), 2) if n else 0.0,
        "price_capped_share": round(float(decisions["price_capped"].mean()), 4) if n else 0.0,
        "mean_ltv": round(float(decisions["ltv_bps"].mean()) / 10_000, 4) if n else 0.0,
    }


def shift_matrix(base: pd.DataFrame, cand: pd.DataFrame) -> list[dict[str, Any]]:
    """Per segment x customer tier x dealer tier: counts, approvals and mean limits of both."""
    frame = pd.DataFrame({
        "segment": base["segment"], "customer_tier": base["customer_tier"],
        "dealer_tier": base["dealer_tier"],
        "base_approve": base["outcome"] == "approve", "cand_approve": cand["outcome"] == "approve",
        "base_limit": base["final_limit"], "cand_limit": cand["final_limit"]})
    grouped = frame.groupby(["segment", "customer_tier", "dealer_tier"], sort=True)
    out = []
    for key, g in grouped:
        out.append({"segment": key[0], "customer_tier": key[1], "dealer_tier": key[2],
                    "applications": len(g),
                    "base_approve": int(g["base_approve"].sum()),
                    "candidate_approve": int(g["cand_approve"].sum()),
                    "base_mean_limit": round(float(g["base_limit"].mean()), 2),
                    "candidate_mean_limit": round(float(g["cand_limit"].mean()), 2)})
    return out


LIMIT_BINS = 10
OUTCOMES = ("approve", "refer", "decline")
CHANGED_COLUMNS = ("seq", "application_id", "segment", "customer_tier", "base_outcome",
                   "base_limit", "candidate_outcome", "candidate_limit")


def _nice_step(top: int, bins: int) -> int:
    """A bin width of 1, 2 or 5 times a power of ten so that `bins` bins cover `top`."""
    raw = max(top / bins, 1)
    power = 10 ** int(math.floor(math.log10(raw)))
    return next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw)


def limit_distribution(base: pd.DataFrame, cand: pd.DataFrame) -> dict[str, Any]:
    """Final limits above zero of both strategies on one set of bins: `edges` (whole units,
    lower bound inclusive) and the counts of each."""
    limits = [frame["final_limit"].astype("int64").to_numpy() for frame in (base, cand)]
    positive = [values[values > 0] for values in limits]
    top = max((int(v.max()) for v in positive if len(v)), default=0)
    step = _nice_step(top + 1, LIMIT_BINS)
    edges = [i * step for i in range(LIMIT_BINS + 1)]
    while edges[-1] <= top:
        edges.append(edges[-1] + step)
    counts = [np.histogram(v, bins=edges)[0].astype(int).tolist() for v in positive]
    return {"edges": edges, "baseline": counts[0], "candidate": counts[1]}


def outcomes_by(base: pd.DataFrame, cand: pd.DataFrame, column: str) -> list[dict[str, Any]]:
    """Per value of `column` (the baseline's segment or customer tier): the outcome counts of
    both strategies."""
    keys = base[column].astype(str)
    out = []
    for key in sorted(keys.unique()):
        rows = (keys == key).to_numpy()
        entry: dict[str, Any] = {column: key, "applications": int(rows.sum())}
        for label, frame in (("baseline", base), ("candidate", cand)):
            counts = frame["outcome"][rows].value_counts()
            entry[label] = {o: int(counts.get(o, 0)) for o in OUTCOMES}
        out.append(entry)
    return out


def compare(applications: pd.DataFrame, baseline: Strategy, candidate: Strategy,
            ids: pd.Series | None = None) -> dict[str, Any]:
    """The simulation report of `candidate` against `baseline` on the same applications."""
    return compare_frames(applications, baseline, candidate, ids)[0]


def compare_frames(applications: pd.DataFrame, baseline: Strategy, candidate: Strategy,
                   ids: pd.Series | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
    """The report, and one row per application whose outcome or final limit changed
    (CHANGED_COLUMNS; `seq` is its position among the applications)."""
    base = decide_frame(applications, baseline)
    cand = decide_frame(applications, candidate)
    ids = ids.reset_index(drop=True) if ids is not None else pd.Series(range(len(base)))
    changed = (base["outcome"] != cand["outcome"]) | (base["final_limit"] != cand["final_limit"])
    outcome_changed = base["outcome"] != cand["outcome"]
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for old, new in zip(base["reasons"][changed], cand["reasons"][changed], strict=True):
        old_set, new_set = set(filter(None, old.split("|"))), set(filter(None, new.split("|")))
        added.update(new_set - old_set)
        removed.update(old_set - new_set)
    sample = []
    for i in list(base.index[outcome_changed])[:SAMPLE_CHANGED]:
        sample.append({"application": str(ids[i]),
                       "base": {"outcome": base["outcome"][i],
                                "final_limit": int(base["final_limit"][i]),
                                "reasons": base["reasons"][i]},
                       "candidate": {"outcome": cand["outcome"][i],
                                     "final_limit": int(cand["final_limit"][i]),
                                     "reasons": cand["reasons"][i]}})
    transitions = Counter(zip(base["outcome"][outcome_changed], cand["outcome"][outcome_changed],
                              strict=True))
    base_summary, cand_summary = summary(base), summary(cand)
    report = {
        "baseline": base_summary, "candidate": cand_summary,
        "total_limit_change": cand_summary["total_final_limit"] - base_summary["total_final_limit"],
        "outcome_changed": int(outcome_changed.sum()), "limit_changed": int(changed.sum()),
        "transitions": [{"from": a, "to": b, "count": c} for (a, b), c in
                        sorted(transitions.items())],
        "shift_matrix": shift_matrix(base, cand),
        "changed_sample": sample,
        "reasons_added": dict(added.most_common(10)),
        "reasons_removed": dict(removed.most_common(10)),
        "limit_distribution": limit_distribution(base, cand),
        "outcomes_by_segment": outcomes_by(base, cand, "segment"),
        "outcomes_by_customer_tier": outcomes_by(base, cand, "customer_tier"),
        "limitations": BACKTEST_LIMIT,
    }
    at = np.flatnonzero(changed.to_numpy())
    rows = pd.DataFrame({
        "seq": at, "application_id": ids.iloc[at].astype(str).to_numpy(),
        "segment": base["segment"].to_numpy()[at],
        "customer_tier": base["customer_tier"].to_numpy()[at],
        "base_outcome": base["outcome"].to_numpy()[at],
        "base_limit": base["final_limit"].astype("int64").to_numpy()[at],
        "candidate_outcome": cand["outcome"].to_numpy()[at],
        "candidate_limit": cand["final_limit"].astype("int64").to_numpy()[at]},
        columns=list(CHANGED_COLUMNS))
    return report, rows
