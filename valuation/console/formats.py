"""Numbers as each locale writes them (Flask-Babel): money in whole yuan with thousands
separators (zh `12,345 元`, en `CNY 12,345`), ratios as percents, counts with separators."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import format_decimal, format_percent, get_locale
from flask_babel import gettext as _

from .signin import blueprint


def money(value: Any) -> str:
    """Whole currency units (the service's amounts are integers already)."""
    if value is None or value == "":
        return "—"
    text = format_decimal(int(value), format="#,##0")
    return f"{text} 元" if str(get_locale()).startswith("zh") else f"CNY {text}"


def money_exact(value: Any) -> str:
    """An amount to the fen, as the loan book gives it ("102600.00")."""
    if value is None or value == "":
        return "—"
    text = format_decimal(Decimal(str(value)), format="#,##0.00")
    return f"{text} 元" if str(get_locale()).startswith("zh") else f"CNY {text}"


def money_fen(value: Any) -> str:
    """An amount kept in fen (the loan book's) in whole units, half away from zero."""
    if value is None or value == "":
        return "—"
    return money(Decimal(value).scaleb(-2).quantize(Decimal(1), ROUND_HALF_UP))


def compact_money(value: int) -> str:
    """A short amount for a chart's axis: zh in 万 (10,000), en in k (1,000)."""
    if str(get_locale()).startswith("zh"):
        return f"{value / 10_000:g}万" if value >= 10_000 else f"{value:,}"
    return f"{value / 1_000:g}k" if value >= 1_000 else f"{value:,}"


def percent(value: Any, digits: int = 2) -> str:
    """A ratio (0.0525, or its text "0.0525") as a percent with up to `digits` decimals."""
    if value is None or value == "":
        return "—"
    return format_percent(Decimal(str(value)), format="#,##0." + "#" * digits + "%")


def number(value: Any) -> str:
    if value is None or value == "":
        return "—"
    return format_decimal(value, format="#,##0.##")


def outcome_label(outcome: str) -> str:
    """A decision's outcome in the page's language."""
    return {"approve": _("approve"), "refer": _("refer"), "decline": _("decline")}.get(
        outcome, outcome)


def step_label(step: str) -> str:
    """A decision step's name in the page's language."""
    return {"hard_rules": _("hard rules"), "facts": _("vehicle facts"),
            "recognized_price": _("recognised price"), "price_gap": _("price gap"),
            "ltv": _("LTV cap on the declared price"),
            "price_cap": _("LTV cap on the recognised price"),
            "regulatory_ltv": _("regulatory LTV cap"), "dealer_tier": _("dealer tier"),
            "payment_to_income": _("payment-to-income cap"),
            "debt_to_income": _("debt-to-income cap"), "product_max": _("product maximum"),
            "round_down": _("rounding"), "product_min": _("product minimum")}.get(step, step)


def adjustment_label(kind: str) -> str:
    """A business limit adjustment's type in the page's language."""
    return {"payment_to_income": _("instalment at most this share of monthly income"),
            "debt_to_income": _("all instalments at most this share of monthly income"),
            "product_bounds": _("the product's minimum and maximum amount"),
            "round_down": _("rounded down to a multiple of")}.get(kind, kind)


def section_label(section: str) -> str:
    """A strategy document's section in the page's language (its key beside it)."""
    return {"name": _("name"), "description": _("description"), "currency": _("currency"),
            "customer_tiers": _("customer tiers and score bands"),
            "dealer_tiers": _("dealer tiers"),
            "refer_gap": _("declared price far above the valuation: refer above this gap"),
            "hard_rules": _("hard rules"), "adjustments": _("business limit adjustments"),
            "products": _("products"), "default_product": _("default product")}.get(section, "")


def state_label(state: str) -> str:
    """A strategy version's state in the page's language."""
    return {"draft": _("draft"), "submitted": _("submitted"), "approved": _("approved"),
            "scheduled": _("scheduled"), "active": _("active"), "retired": _("retired")}.get(
        state, state)


blueprint.add_app_template_filter(money, "money")
blueprint.add_app_template_filter(money_fen, "money_fen")
blueprint.add_app_template_filter(money_exact, "money_exact")
blueprint.add_app_template_filter(percent, "percent")
blueprint.add_app_template_filter(number, "number")
blueprint.add_app_template_global(state_label, "state_label")
blueprint.add_app_template_global(outcome_label, "outcome_label")
blueprint.add_app_template_global(step_label, "step_label")
blueprint.add_app_template_global(section_label, "section_label")
blueprint.add_app_template_global(adjustment_label, "adjustment_label")
blueprint.add_app_template_global(zip, "zip")
