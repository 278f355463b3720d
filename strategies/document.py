"""The strategy document: typed dataclasses, loaded and validated with marshmallow.

A strategy is data: segment rules, customer and dealer tiers, the price-tolerance and LTV
grids (segment x customer tier x dealer tier), hard rules, ordered limit adjustments,
products and reason texts. `load_strategy` refuses a document with a missing grid cell,
a value out of bounds or with more than four decimals, an LTV above the strictest regulatory
cap of any car its segment can hold (`facts.SEGMENT_CAP`), adjustments out of their fixed
order, or an unknown key; `monotonicity_warnings` lists cells where a worse tier gets a
looser value.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from .facts import SEGMENT_CAP, SEGMENTS

ADJUSTMENT_TYPES = ("payment_to_income", "debt_to_income", "product_bounds", "round_down")
# Income caps first (each at most once, either order), then exactly one product_bounds, then at
# most one round_down: the product minimum is checked on the final amount.
INCOME_CAPS = ("payment_to_income", "debt_to_income")
MAX_MONEY = 1_000_000_000  # whole currency units; bounds every amount so int64 never overflows
RATIO_DECIMALS = 4  # ratios become whole basis points in the engine


def _has_few_decimals(value: Decimal) -> bool:
    exponent = value.normalize().as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -RATIO_DECIMALS


def _four_decimals(value: Decimal) -> None:
    if not _has_few_decimals(value):
        raise ValidationError(f"at most {RATIO_DECIMALS} decimals")


def _adjustment_order_errors(types: list[str]) -> list[str]:
    errors = []
    if types.count("product_bounds") != 1:
        errors.append("exactly one product_bounds step is required")
    if types.count("round_down") > 1:
        errors.append("at most one round_down step")
    for kind in INCOME_CAPS:
        if types.count(kind) > 1:
            errors.append(f"at most one {kind} step")
    rank = {"payment_to_income": 0, "debt_to_income": 0, "product_bounds": 1, "round_down": 2}
    ranks = [rank[t] for t in types if t in rank]
    if ranks != sorted(ranks):
        errors.append("order: income caps, then product_bounds, then round_down")
    return errors


class StrategyError(ValueError):
    """A strategy document that cannot be saved; `errors` maps a path to its messages."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(json.dumps(errors, ensure_ascii=False, default=str))
        self.errors = errors


@dataclass(frozen=True)
class ScoreBand:
    min_score: int
    tier: str


@dataclass(frozen=True)
class HardRules:
    decline_flood_damage: bool
    decline_fire_damage: bool
    max_age_at_term_end_months: int
    max_mileage_km: int
    refer_confidence_levels: tuple[str, ...]
    segments_offered: tuple[str, ...]


@dataclass(frozen=True)
class Adjustment:
    type: str
    max_ratio: Decimal | None = None
    unit: int | None = None

    @functools.cached_property
    def max_bps(self) -> int:
        """`max_ratio` in whole basis points (income caps only), once per strategy object."""
        assert self.max_ratio is not None
        return bps(self.max_ratio)


@dataclass(frozen=True)
class Product:
    min_amount: int
    max_amount: int
    min_term_months: int
    max_term_months: int


@dataclass(frozen=True)
class Strategy:
    """A validated strategy document. Grids: grid[segment][customer_tier][dealer_tier]."""

    name: str
    currency: str
    customer_tiers: tuple[str, ...]  # best first
    score_bands: tuple[ScoreBand, ...]  # highest min_score first
    dealer_tiers: tuple[str, ...]  # best first
    price_tolerance: dict[str, dict[str, dict[str, Decimal]]]
    ltv_max: dict[str, dict[str, dict[str, Decimal]]]
    refer_gap: Decimal
    hard_rules: HardRules
    adjustments: tuple[Adjustment, ...]
    products: dict[str, Product]
    default_product: str
    reasons: dict[str, dict[str, str]]
    description: str = ""
    customer_tier_renames: dict[str, str] = field(default_factory=dict)
    dealer_tier_renames: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def most_cautious_dealer_tier(self) -> str:
        return self.dealer_tiers[-1]

    def customer_tier(self, name: str) -> str | None:
        """A customer tier of this strategy by its name or an old name; None if unknown."""
        name = self.customer_tier_renames.get(name, name)
        return name if name in self.customer_tiers else None

    def dealer_tier(self, name: str) -> str | None:
        """A dealer tier of this strategy by its name or an old name; None if unknown."""
        name = self.dealer_tier_renames.get(name, name)
        return name if name in self.dealer_tiers else None

    @property
    def content_hash(self) -> str:
        return content_hash(self.raw)

    @functools.cached_property
    def cell_bps(self) -> dict[tuple[str, str, str], tuple[int, int]]:
        """(segment, customer tier, dealer tier) -> (tolerance, LTV) in whole basis points:
        compiled once per strategy object, never per decision."""
        return {(seg, ct, dtier): (bps(tol), bps(self.ltv_max[seg][ct][dtier]))
                for seg, rows in self.price_tolerance.items() for ct, cells in rows.items()
                for dtier, tol in cells.items()}

    @functools.cached_property
    def refer_gap_bps(self) -> int:
        return bps(self.refer_gap)


@functools.lru_cache(maxsize=4096)
def bps(ratio: Decimal) -> int:
    """A ratio in whole basis points (ratios are validated to at most 4 decimals)."""
    return int((ratio * 10_000).to_integral_value())


def ratio_text(bps_value: int) -> str:
    """Whole basis points back as a ratio text with 4 decimals ("0.5833", "0.0000")."""
    return str((Decimal(int(bps_value)) / 10_000).quantize(Decimal("0.0001")))


def canonical_json(data: Any) -> str:
    """One text per value: sorted keys, no spaces, decimals and dates as strings."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def content_hash(document: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a document."""
    return "sha256:" + hashlib.sha256(canonical_json(document).encode()).hexdigest()


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class ScoreBandSchema(_Strict):
    min_score = fields.Integer(required=True, strict=True, validate=validate.Range(0, 1000))
    tier = fields.String(required=True)


RENAMED = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict,
                      metadata={"description": "old tier name -> its name in `order`, so that "
                                               "stored tiers keep working after a rename"})


class CustomerTiersSchema(_Strict):
    order = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    renamed = RENAMED
    score_bands = fields.List(fields.Nested(ScoreBandSchema), required=True,
                              validate=validate.Length(min=1))


class DealerTiersSchema(_Strict):
    order = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    renamed = RENAMED


class HardRulesSchema(_Strict):
    decline_flood_damage = fields.Boolean(required=True)
    decline_fire_damage = fields.Boolean(required=True)
    max_age_at_term_end_months = fields.Integer(required=True, strict=True,
                                                validate=validate.Range(12, 360))
    max_mileage_km = fields.Integer(required=True, strict=True,
                                    validate=validate.Range(0, 2_000_000))
    refer_confidence_levels = fields.List(fields.String(validate=validate.OneOf(
        ("low", "medium", "high"))), required=True)
    segments_offered = fields.List(fields.String(validate=validate.OneOf(SEGMENTS)),
                                   required=True, validate=validate.Length(min=1))


class AdjustmentSchema(_Strict):
    type = fields.String(required=True, validate=validate.OneOf(ADJUSTMENT_TYPES))
    max_ratio = fields.Decimal(validate=[validate.Range(0, 1, min_inclusive=False),
                                         _four_decimals])
    unit = fields.Integer(strict=True, validate=validate.Range(1, 1_000_000))

    @validates_schema
    def check_parameters(self, data: dict[str, Any], **kwargs: Any) -> None:
        needs = {"payment_to_income": "max_ratio", "debt_to_income": "max_ratio",
                 "round_down": "unit"}.get(data["type"])
        if needs and data.get(needs) is None:
            raise ValidationError(f"{data['type']} needs {needs}", needs)


class ProductSchema(_Strict):
    min_amount = fields.Integer(required=True, strict=True, validate=validate.Range(0, MAX_MONEY))
    max_amount = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_MONEY))
    min_term_months = fields.Integer(required=True, strict=True, validate=validate.Range(1, 120))
    max_term_months = fields.Integer(required=True, strict=True, validate=validate.Range(1, 120))


def _cell_error(name: str, seg: str, value: Decimal | None,
                bounds: tuple[Decimal, Decimal]) -> str | None:
    if value is None:
        return "missing cell (no silent default)"
    if not bounds[0] <= value <= bounds[1]:
        return f"{value} is outside {bounds[0]}..{bounds[1]}"
    if not _has_few_decimals(value):
        return f"{value} has more than {RATIO_DECIMALS} decimals"
    if name == "ltv_max" and value > SEGMENT_CAP[seg]:
        return (f"{value} is above the regulatory cap {SEGMENT_CAP[seg]} "
                f"of the strictest car {seg} can hold")
    return None


def _grid_errors(name: str, grid: dict[str, Any], ctiers: list[str], dtiers: list[str],
                 bounds: tuple[Decimal, Decimal]) -> dict[str, list[str]]:
    """Every cell present, within bounds, LTV within the regulatory cap; no unknown keys."""
    errors: dict[str, list[str]] = {}
    for seg in sorted(set(grid) - set(SEGMENTS)):
        errors.setdefault(name, []).append(f"unknown segment {seg!r}")
    for seg in SEGMENTS:
        for ct in ctiers:
            for dtier in dtiers:
                message = _cell_error(name, seg, grid.get(seg, {}).get(ct, {}).get(dtier),
                                      bounds)
                if message:
                    errors[f"{name}[{seg}][{ct}][{dtier}]"] = [message]
        extra = set(grid.get(seg, {})) - set(ctiers)
        extra |= {d for row in grid.get(seg, {}).values() for d in row} - set(dtiers)
        if extra:
            errors.setdefault(name, []).append(f"{seg}: unknown tiers {sorted(extra)}")
    return errors


def _rename_errors(key: str, order: list[str], renamed: dict[str, str]) -> dict[str, list[str]]:
    messages = [f"renamed {old!r} -> {new!r}: the old name must have left `order` and the new "
                f"one be in it" for old, new in renamed.items() if old in order or new not in order]
    return {key: messages} if messages else {}


GRID = fields.Dict(keys=fields.String(), values=fields.Dict(
    keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Decimal())),
    required=True)


class StrategySchema(_Strict):
    name = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$"))
    version = fields.Raw(load_default=None, metadata={"description": "ignored on load"})
    description = fields.String(load_default="")
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    customer_tiers = fields.Nested(CustomerTiersSchema, required=True)
    dealer_tiers = fields.Nested(DealerTiersSchema, required=True)
    price_tolerance = GRID
    ltv_max = GRID
    refer_gap = fields.Decimal(required=True, validate=[validate.Range(0, 5), _four_decimals])
    hard_rules = fields.Nested(HardRulesSchema, required=True)
    adjustments = fields.List(fields.Nested(AdjustmentSchema), required=True)
    products = fields.Dict(keys=fields.String(), values=fields.Nested(ProductSchema),
                           required=True, validate=validate.Length(min=1))
    default_product = fields.String(required=True)
    reasons = fields.Dict(keys=fields.String(), values=fields.Dict(
        keys=fields.String(validate=validate.OneOf(("zh", "en"))), values=fields.String()),
        required=True)

    @validates_schema
    def check_cross_references(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        ctiers, dtiers = data["customer_tiers"]["order"], data["dealer_tiers"]["order"]
        for key in ("customer_tiers", "dealer_tiers"):
            errors.update(_rename_errors(key, data[key]["order"], data[key]["renamed"]))
        for band in data["customer_tiers"]["score_bands"]:
            if band["tier"] not in ctiers:
                errors.setdefault("customer_tiers", []).append(
                    f"score band tier {band['tier']!r} is not in order {ctiers}")
        if data["default_product"] not in data["products"]:
            errors["default_product"] = [f"{data['default_product']!r} is not a product"]
        for name, product in data["products"].items():
            if product["min_amount"] > product["max_amount"] or \
                    product["min_term_months"] > product["max_term_months"]:
                errors.setdefault("products", []).append(f"{name}: min above max")
        order = _adjustment_order_errors([a["type"] for a in data["adjustments"]])
        if order:
            errors["adjustments"] = order
        errors.update(_grid_errors("price_tolerance", data["price_tolerance"], ctiers, dtiers,
                                   (Decimal("-0.5"), Decimal("0.5"))))
        errors.update(_grid_errors("ltv_max", data["ltv_max"], ctiers, dtiers,
                                   (Decimal("0"), Decimal("1"))))
        if errors:
            raise ValidationError(errors)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Strategy:
        rules = data["hard_rules"]
        bands = sorted((ScoreBand(b["min_score"], b["tier"])
                        for b in data["customer_tiers"]["score_bands"]),
                       key=lambda b: -b.min_score)
        return Strategy(
            name=data["name"], currency=data["currency"], description=data["description"],
            customer_tiers=tuple(data["customer_tiers"]["order"]), score_bands=tuple(bands),
            dealer_tiers=tuple(data["dealer_tiers"]["order"]),
            price_tolerance=data["price_tolerance"], ltv_max=data["ltv_max"],
            refer_gap=data["refer_gap"],
            hard_rules=HardRules(
                decline_flood_damage=rules["decline_flood_damage"],
                decline_fire_damage=rules["decline_fire_damage"],
                max_age_at_term_end_months=rules["max_age_at_term_end_months"],
                max_mileage_km=rules["max_mileage_km"],
                refer_confidence_levels=tuple(rules["refer_confidence_levels"]),
                segments_offered=tuple(rules["segments_offered"])),
            adjustments=tuple(Adjustment(**a) for a in data["adjustments"]),
            customer_tier_renames=dict(data["customer_tiers"]["renamed"]),
            dealer_tier_renames=dict(data["dealer_tiers"]["renamed"]),
            products={k: Product(**v) for k, v in data["products"].items()},
            default_product=data["default_product"], reasons=data["reasons"])


def load_strategy(document: dict[str, Any]) -> Strategy:
    """Validate a strategy document; raises StrategyError naming every problem."""
    try:
        strategy: Strategy = StrategySchema().load(document)
    except ValidationError as exc:
        raise StrategyError(exc.normalized_messages()) from exc
    clean = {k: v for k, v in document.items() if k != "version"}
    return Strategy(**{**strategy.__dict__, "raw": clean})


def load_file(path: Path | str) -> Strategy:
    """A strategy from a YAML or JSON file."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StrategyError({"_file": [f"not YAML/JSON: {exc}"]}) from exc
    if not isinstance(document, dict):
        raise StrategyError({"_file": ["a strategy document is a mapping"]})
    return load_strategy(document)


DEFAULT_PATH = Path(__file__).with_name("default.yaml")


def default_strategy() -> Strategy:
    """The strategy that ships with the package (strategies/default.yaml)."""
    return load_file(DEFAULT_PATH)


def monotonicity_warnings(strategy: Strategy) -> list[str]:
    """Cells where a worse tier gets a looser value than a better one (allowed, but flagged)."""
    warnings = []
    for grid_name in ("price_tolerance", "ltv_max"):
        grid = getattr(strategy, grid_name)
        for seg in SEGMENTS:
            for i, ct in enumerate(strategy.customer_tiers):
                for j, dtier in enumerate(strategy.dealer_tiers):
                    value = grid[seg][ct][dtier]
                    if i and value > grid[seg][strategy.customer_tiers[i - 1]][dtier]:
                        warnings.append(f"{grid_name}[{seg}][{ct}][{dtier}] = {value} is looser "
                                        f"than better customer tier "
                                        f"{strategy.customer_tiers[i - 1]}")
                    if j and value > grid[seg][ct][strategy.dealer_tiers[j - 1]]:
                        warnings.append(f"{grid_name}[{seg}][{ct}][{dtier}] = {value} is looser "
                                        f"than better dealer tier {strategy.dealer_tiers[j - 1]}")
    return warnings
