"""`decide_frame`: the decision function vectorised over a DataFrame of applications, for
simulation. Same integer arithmetic as `engine.decide`, so the two agree exactly (tested)."""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from .applications import check_frame
from .document import Strategy
from .engine import APPROVE, BPS, DECLINE, MAX_PRINCIPAL_REASONS, REFER, annuity_factor, bps
from .facts import (
    COMMERCIAL,
    COMMERCIAL_ICE_CAP,
    COMMERCIAL_NEV_CAP,
    NEV,
    NEW_CAR_MAX_DAYS,
    NEW_CAR_MAX_KM,
    NO_CAP,
    SEGMENTS,
    USED_CAP,
)

# Columns of the applications frame (one row per application; money in whole units).
COLUMNS = ("declared_price", "down_payment", "term_months", "annual_rate", "is_new",
           "energy_type", "usage", "first_registration", "mileage_km", "flood_damage",
           "fire_damage", "monthly_income", "monthly_debt_payments", "decision_date",
           "customer_score", "customer_tier", "dealer_tier", "product", "valuation",
           "confidence_level")


def _facts(f: pd.DataFrame, reg: pd.Series, on: pd.Series) -> dict[str, np.ndarray]:
    """facts.vehicle_facts, vectorised: new only when plausible, no usage means commercial."""
    plausible = (((on - reg).dt.days <= NEW_CAR_MAX_DAYS).to_numpy()
                 & (f["mileage_km"].to_numpy(dtype=float) <= NEW_CAR_MAX_KM))
    asserted = f["is_new"].to_numpy(dtype=bool)
    usage = f["usage"]
    nev = f["energy_type"].isin(NEV).to_numpy()
    commercial = (usage.isna() | usage.isin(COMMERCIAL)).to_numpy()
    is_new = asserted & plausible
    # positions in facts.SEGMENTS: new_ice, new_nev, used_ice, used_nev, commercial_ice, _nev
    code = np.where(commercial, 4, np.where(is_new, 0, 2)) + nev.astype(np.int64)
    segment = np.array(SEGMENTS, dtype=object)[code]
    cap = np.full(len(f), bps(NO_CAP), dtype=np.int64)
    cap = np.where(~is_new, np.minimum(cap, bps(USED_CAP)), cap)
    commercial_cap = np.where(nev, bps(COMMERCIAL_NEV_CAP), bps(COMMERCIAL_ICE_CAP))
    cap = np.where(commercial, np.minimum(cap, commercial_cap), cap)
    return {"is_new": is_new, "segment": segment, "segment_code": code, "reg_cap": cap,
            "new_claim_rejected": asserted & ~plausible, "usage_unknown": usage.isna().to_numpy()}


def _customer_tiers(frame: pd.DataFrame, strategy: Strategy) -> np.ndarray:
    given = frame["customer_tier"].replace(strategy.customer_tier_renames)
    score = pd.to_numeric(frame["customer_score"], errors="coerce").to_numpy(dtype=float)
    tiers = np.full(len(frame), strategy.customer_tiers[-1], dtype=object)
    for band in reversed(strategy.score_bands):  # lowest first, higher bands overwrite
        tiers = np.where(score >= band.min_score, band.tier, tiers)
    return np.where(given.notna(), given, tiers).astype(object)


def _codes(values: np.ndarray, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Each value's position in `names` (checked inputs: every value is one of them; -1 for
    any other), looked up once per distinct value: a frame holds a handful (a pandas Index of
    the names would convert every value to its string type first, a fifth of `decide_frame`'s
    time)."""
    at, distinct = pd.factorize(values, use_na_sentinel=True)
    where = {name: i for i, name in enumerate(names)}
    positions = np.array([where.get(value, -1) for value in distinct.tolist()] + [-1],
                         dtype=np.int64)
    return positions[at]


def _grid(strategy: Strategy, name: str, seg: np.ndarray, ct: np.ndarray,
          dt_: np.ndarray) -> np.ndarray:
    """The grid's cells in basis points for (segment, customer tier, dealer tier) positions,
    by one table lookup for the whole frame."""
    which = 0 if name == "price_tolerance" else 1
    table = np.array([[[strategy.cell_bps[(s, c, d)][which] for d in strategy.dealer_tiers]
                       for c in strategy.customer_tiers] for s in SEGMENTS], dtype=np.int64)
    return table[seg, ct, dt_]


def _per_product(strategy: Strategy, product_codes: np.ndarray, attribute: str) -> np.ndarray:
    values = np.array([getattr(p, attribute) for p in strategy.products.values()], dtype=np.int64)
    return values[product_codes]


def _annuity(rates: pd.Series, term: np.ndarray) -> np.ndarray:
    """engine.annuity_factor for each row, computed once per distinct (rate, term): the same
    function, so the same bits, and a frame holds few distinct pairs."""
    rate_codes, distinct_rates = pd.factorize(pd.to_numeric(rates).to_numpy(dtype=float))
    pairs, codes = np.unique(rate_codes * 1_000 + term, return_inverse=True)  # terms < 1,000
    values = np.array([annuity_factor(Decimal(repr(float(distinct_rates[pair // 1_000]))),
                                      int(pair % 1_000)) for pair in pairs], dtype=float)
    return values[codes]


def _grid_limit(declared: np.ndarray, requested: np.ndarray, basis: np.ndarray,
                tol: np.ndarray, ltv: np.ndarray, is_new: np.ndarray, reg_cap: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """engine.grid_limit, vectorised."""
    recognized = np.minimum(declared, basis * (BPS + tol) // BPS)
    after_ltv = np.minimum(requested, declared * ltv // BPS)
    after_price = np.minimum(after_ltv, recognized * ltv // BPS)
    reg_basis = np.where(is_new, recognized, np.minimum(declared, basis))
    return recognized, after_ltv, after_price, np.minimum(after_price, reg_basis * reg_cap // BPS)


def decide_frame(frame: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    """One decision row per application: segment, tiers, recognised price, gap, LTV, amounts,
    outcome and the ranked principal reasons ('|'-joined)."""
    n = len(frame)
    f = frame.reset_index(drop=True)
    check_frame(f, strategy)
    rules = strategy.hard_rules
    reg = pd.to_datetime(f["first_registration"])
    on = pd.to_datetime(f["decision_date"])
    facts = _facts(f, reg, on)
    seg, is_new = facts["segment"], facts["is_new"]
    ct = _customer_tiers(f, strategy)
    dealer_given = f["dealer_tier"].notna().to_numpy()
    dtier = np.where(dealer_given, f["dealer_tier"].replace(strategy.dealer_tier_renames),
                     strategy.most_cautious_dealer_tier).astype(object)
    declared = f["declared_price"].to_numpy(dtype=np.int64)
    basis = f["valuation"].to_numpy(dtype=np.int64)
    term = f["term_months"].to_numpy(dtype=np.int64)
    age = ((on.dt.year - reg.dt.year) * 12 + on.dt.month - reg.dt.month).to_numpy()
    products = f["product"].fillna(strategy.default_product).to_numpy(dtype=object)
    products = _codes(products, list(strategy.products))
    pmin_term = _per_product(strategy, products, "min_term_months")
    pmax_term = _per_product(strategy, products, "max_term_months")

    decline_codes = [
        ("SEGMENT_NOT_OFFERED", ~np.isin(facts["segment_code"],
                                         [SEGMENTS.index(x) for x in rules.segments_offered])),
        ("TERM_NOT_OFFERED", (term < pmin_term) | (term > pmax_term)),
        ("DECLINE_FLOOD_DAMAGE", f["flood_damage"].to_numpy(dtype=bool)
         & rules.decline_flood_damage),
        ("DECLINE_FIRE_DAMAGE", f["fire_damage"].to_numpy(dtype=bool)
         & rules.decline_fire_damage),
        ("DECLINE_VEHICLE_AGE", age + term > rules.max_age_at_term_end_months),
        ("DECLINE_MILEAGE", f["mileage_km"].to_numpy(dtype=float) > rules.max_mileage_km),
    ]
    refer_codes = [("REFER_LOW_CONFIDENCE",
                    f["confidence_level"].isin(rules.refer_confidence_levels).to_numpy())]

    seg_code = facts["segment_code"]
    ct_code = _codes(ct, strategy.customer_tiers)
    dt_code = _codes(dtier, strategy.dealer_tiers)
    tol = _grid(strategy, "price_tolerance", seg_code, ct_code, dt_code)
    ltv = _grid(strategy, "ltv_max", seg_code, ct_code, dt_code)
    reg_cap = facts["reg_cap"]
    requested = declared - f["down_payment"].to_numpy(dtype=np.int64)
    recognized, after_ltv, after_price, after_reg = _grid_limit(
        declared, requested, basis, tol, ltv, is_new, reg_cap)
    gap_bps = _gap_bps(declared, basis)
    refer_codes.append(("PRICE_GAP_EXCESSIVE", gap_bps > bps(strategy.refer_gap)))

    cuts: dict[str, np.ndarray] = {}

    def cap(amount: np.ndarray, limit: np.ndarray, code: str) -> np.ndarray:
        after = np.minimum(amount, limit)
        cuts[code] = cuts.get(code, np.zeros(n, dtype=np.int64)) + (amount - after)
        return after

    amount = cap(requested, after_ltv, "LTV_CAP")
    amount = cap(amount, after_price, "PRICE_CAPPED")
    amount = cap(amount, after_reg, "REGULATORY_LTV_CAP")
    best = np.zeros(n, dtype=np.int64)  # the first (best) dealer tier
    with_best = _grid_limit(declared, requested, basis,
                            _grid(strategy, "price_tolerance", seg_code, ct_code, best),
                            _grid(strategy, "ltv_max", seg_code, ct_code, best), is_new,
                            reg_cap)[3]
    cuts["DEALER_TIER_UNKNOWN"] = np.where(dealer_given, 0, np.maximum(with_best - amount, 0))
    before_adjustments = amount
    factor = _annuity(f["annual_rate"], term)
    income = f["monthly_income"].to_numpy(dtype=np.int64)
    debt = f["monthly_debt_payments"].to_numpy(dtype=np.int64)
    for adj in strategy.adjustments:
        if adj.type in ("payment_to_income", "debt_to_income"):
            assert adj.max_ratio is not None
            payment = income * bps(adj.max_ratio) // BPS
            if adj.type == "debt_to_income":
                payment = np.maximum(payment - debt, 0)
            code = "PTI_CAP" if adj.type == "payment_to_income" else "DTI_CAP"
            amount = cap(amount, (payment * factor).astype(np.int64), code)
        elif adj.type == "product_bounds":
            amount = cap(amount, _per_product(strategy, products, "max_amount"), "PRODUCT_MAX")
        else:
            assert adj.unit is not None
            amount = cap(amount, amount // adj.unit * adj.unit, "ROUNDING")
    pmin = _per_product(strategy, products, "min_amount")
    decline_codes.append(("BELOW_PRODUCT_MIN", amount < pmin))

    declined = np.zeros(n, dtype=bool)
    for _, mask in decline_codes:
        declined |= mask
    referred = np.zeros(n, dtype=bool)
    for _, mask in refer_codes:
        referred |= mask
    outcome = np.array([APPROVE, REFER, DECLINE], dtype=object)[
        np.where(declined, 2, np.where(referred, 1, 0))]
    final = np.where(declined, 0, np.maximum(amount, 0))
    reasons = _rank_reasons(n, decline_codes, refer_codes, cuts, ~dealer_given)
    return pd.DataFrame({
        "outcome": _texts(outcome), "segment": _texts(seg), "customer_tier": _texts(ct),
        "dealer_tier": _texts(dtier),
        "recognized_price": recognized, "price_gap_bps": gap_bps, "ltv_bps": ltv,
        "requested_amount": requested, "limit_before_adjustments": before_adjustments,
        "final_limit": final, "price_capped": recognized < declared, "reasons": _texts(reasons),
        "is_new": is_new, "new_claim_rejected": facts["new_claim_rejected"],
        "usage_unknown": facts["usage_unknown"],
    })


def _texts(values: np.ndarray) -> pd.Series:
    """A text column kept as Python strings (object dtype): pandas would otherwise copy every
    value into an Arrow string array, a sixth of `decide_frame`'s time for nothing."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object, copy=False)


def _gap_bps(declared: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(declared - basis) / basis in basis points, rounded half-even like Decimal.quantize."""
    num = (declared - basis) * BPS
    q, r = np.divmod(num, basis)
    twice = 2 * r
    up = (twice > basis) | ((twice == basis) & (q % 2 == 1))
    return q + up


def _rank_reasons(n: int, declines: list, refers: list, cuts: dict[str, np.ndarray],
                  unknown_dealer: np.ndarray) -> np.ndarray:
    """engine.rank_reasons, vectorised: every candidate code gets a sort key per row (declines
    in order, then refers, then cuts by size and name, then an unknown dealer that cut
    nothing); the first four present codes are joined, one string per distinct choice. A
    key names its code: a decline's or refer's key is its position (below 64), a cut's is
    64 x (1 + limit - cut) + its place among the cuts, so the four smallest keys of a row,
    sorted, are its four codes in order."""
    names = sorted(cuts)
    codes = [c for c, _ in declines] + [c for c, _ in refers] + names + ["DEALER_TIER_UNKNOWN"]
    base = len(declines) + len(refers)
    assert base < 64 and len(names) < 64  # the positions fit below a key's step
    absent = np.iinfo(np.int64).max
    keys = np.full((n, len(codes)), absent, dtype=np.int64)
    for j, (_, mask) in enumerate(declines + refers):
        keys[np.flatnonzero(mask), j] = j
    limit = 1 << 40  # more than any cut in whole currency units
    for k, name in enumerate(names):
        cut = cuts[name]
        at = np.flatnonzero(cut > 0)
        keys[at, base + k] = 64 + (limit - cut[at]) * 64 + k
    dealer_cut = cuts.get("DEALER_TIER_UNKNOWN", np.zeros(n, dtype=np.int64))
    keys[np.flatnonzero(unknown_dealer & (dealer_cut <= 0)), -1] = absent - 1
    # the four smallest keys of each row, in order (present keys are unique within a row)
    smallest = np.sort(keys, axis=1)[:, :MAX_PRINCIPAL_REASONS]
    chosen = np.where(smallest < 64, smallest, base + smallest % 64)
    chosen = np.where(smallest == absent - 1, len(codes) - 1, chosen)
    chosen = np.where(smallest == absent, len(codes), chosen)  # len(codes): no code
    combo = chosen @ (np.int64(len(codes) + 1) ** np.arange(MAX_PRINCIPAL_REASONS))
    _, first, inverse = np.unique(combo, return_index=True, return_inverse=True)
    texts = ["|".join(codes[j] for j in chosen[i] if j < len(codes)) for i in first]
    return np.array(texts, dtype=object)[inverse]
