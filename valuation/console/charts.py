"""ECharts options built on the server from aggregates (a simulation report, an experiment's
arms, a decision's steps): the browser receives a small JSON object per chart, never rows.
Labels are translated here; `static/console/console.js` only draws."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import gettext as _

from .formats import compact_money, outcome_label, step_label

OUTCOMES = ("approve", "refer", "decline")
COLOURS = {"approve": "#3a9d5d", "refer": "#e0a526", "decline": "#c8463d"}


def _bars(categories: list[str], series: list[dict[str, Any]], y_name: str = "",
          percent: bool = False) -> dict[str, Any]:
    axis: dict[str, Any] = {"type": "value", "name": y_name}
    if percent:
        axis.update(max=100, axisLabel={"formatter": "{value} %"})
    legend_rows = 1 + len(series) // 4  # about four legend entries fit a row
    return {"tooltip": {"trigger": "axis"}, "legend": {"top": 0},
            "grid": {"left": 60, "right": 20, "top": 30 + 24 * legend_rows, "bottom": 60},
            "xAxis": {"type": "category", "data": categories,
                      "axisLabel": {"interval": 0, "rotate": 30 if len(categories) > 6 else 0}},
            "yAxis": axis, "series": series}


def ltv_distribution(bins: list[dict[str, Any]]) -> dict[str, Any]:
    """A monitoring run's loans by current LTV band."""
    return _bars([b["bin"] for b in bins], [{"name": _("loans"), "type": "bar",
                                              "data": [b["loans"] for b in bins]}], _("loans"))


def ltv_history(revaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """A loan's current LTV (%) at each run, oldest first (runs that could not value the car
    are gaps)."""
    runs = revaluations[::-1]
    return {"tooltip": {"trigger": "axis"}, "legend": {"top": 0},
            "grid": {"left": 60, "right": 20, "top": 40, "bottom": 40},
            "xAxis": {"type": "category", "data": [r["as_of"] for r in runs]},
            "yAxis": {"type": "value", "name": "LTV %", "axisLabel": {"formatter": "{value} %"}},
            "series": [{"name": _("current LTV"), "type": "line", "data": [
                None if r["ltv"] is None else float(Decimal(r["ltv"]) * 100) for r in runs]}]}


def limit_distribution(report: dict[str, Any]) -> dict[str, Any]:
    """Final limits above zero, champion vs candidate, on the report's shared bins."""
    dist = report["limit_distribution"]
    edges = dist["edges"]
    labels = [f"{compact_money(lo)}–{compact_money(hi)}"
              for lo, hi in zip(edges, edges[1:], strict=False)]
    return _bars(labels, [
        {"name": _("champion (v%(v)s)", v=report["baseline_version"]), "type": "bar",
         "data": dist["baseline"]},
        {"name": _("candidate (v%(v)s)", v=report["candidate_version"]), "type": "bar",
         "data": dist["candidate"]}], _("applications"))


def outcome_rates(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Outcome shares (%) per segment or customer tier: a stacked bar per strategy."""
    categories = [str(r[key]) for r in rows]
    series = []
    for arm, arm_label in (("baseline", _("champion")), ("candidate", _("candidate"))):
        for outcome in OUTCOMES:
            data = [round(100 * r[arm][outcome] / r["applications"], 1) if r["applications"]
                    else 0 for r in rows]
            series.append({"name": f"{arm_label}: {outcome_label(outcome)}", "type": "bar",
                           "stack": arm, "data": data,
                           "itemStyle": {"color": COLOURS[outcome],
                                         "opacity": 1.0 if arm == "candidate" else 0.55}})
    return _bars(categories, series, "%", percent=True)


def totals(report: dict[str, Any]) -> dict[str, Any]:
    """Outcome counts, champion vs candidate."""
    return _bars([outcome_label(o) for o in OUTCOMES], [
        {"name": _("champion"), "type": "bar",
         "data": [report["baseline"][o] for o in OUTCOMES]},
        {"name": _("candidate"), "type": "bar",
         "data": [report["candidate"][o] for o in OUTCOMES]}], _("applications"))


def experiment_arms(arms: dict[str, Any]) -> dict[str, Any]:
    """Approve rate and price-capped share (%) per arm."""
    names = list(arms)
    labels = {"champion": _("champion"), "challenger": _("challenger")}

    def pct(arm: str, field: str) -> float:
        value = arms[arm][field]
        return round(100 * value, 1) if value is not None else 0.0

    return _bars([labels.get(n, n) for n in names], [
        {"name": _("approve rate"), "type": "bar", "data": [pct(n, "approve_rate") for n in names]},
        {"name": _("price-capped share"), "type": "bar",
         "data": [pct(n, "price_capped_share") for n in names]}], "%", percent=True)


def waterfall(steps: list[dict[str, Any]], requested: int, final: int) -> dict[str, Any]:
    """From the requested amount to the final limit: each step's cut as a floating bar (the
    recognised price is a price, not an amount of the loan: its step is in the table only)."""
    labels, base, cut, level = [_("requested")], [0], [0], [requested]
    for step in steps:
        before, after = step.get("before"), step.get("after")
        if before is None or after is None or step["name"] == "recognized_price":
            continue
        labels.append(step_label(step["name"]))
        low, high = min(before, after), max(before, after)
        base.append(low)
        cut.append(high - low)
        level.append(0)
    labels.append(_("final limit"))
    base.append(0)
    cut.append(0)
    level.append(final)
    return {"tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
            "grid": {"left": 80, "right": 20, "top": 20, "bottom": 80},
            "xAxis": {"type": "category", "data": labels, "axisLabel": {"rotate": 30}},
            "yAxis": {"type": "value"},
            "series": [
                {"name": "base", "type": "bar", "stack": "w", "data": base,
                 "itemStyle": {"color": "transparent"}, "tooltip": {"show": False}},
                {"name": _("change"), "type": "bar", "stack": "w", "data": cut,
                 "itemStyle": {"color": COLOURS["decline"]}},
                {"name": _("amount"), "type": "bar", "stack": "w", "data": level,
                 "itemStyle": {"color": "#3f6fb5"}}]}
