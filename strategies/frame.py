"""`decide_frame`: the decision function vectorised over a DataFrame of applications, for
simulation. Same integer arithmetic as `engine.decide`, so the two agree exactly (tested)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .document import REGULATORY_LTV_CAP, Strategy
from .engine import (
    APPROVE,
    BPS,
    COMMERCIAL,
    DECLINE,
    MAX_PRINCIPAL_REASONS,
    NEV,
    REFER,
    ApplicationError,
    bps,
)

# Columns of the applications frame (one row per application; money in whole units).
COLUMNS = ("declared_price", "down_payment", "term_months", "annual_rate", "is_new",
           "energy_type", "usage", "first_registration", "mileage_km", "flood_damage",
           "fire_damage", "monthly_income", "monthly_debt_payments", "decision_date",
           "customer_score", "customer_tier", "dealer_tier", "product", "valuation",
           "confidence_level")


def _segments(frame: pd.DataFrame) -> np.ndarray:
    kind = np.where(frame["energy_type"].isin(NEV), "nev", "ice")
    new = np.where(frame["is_new"].astype(bool), "new", "used")
    commercial = frame["usage"].isin(COMMERCIAL).to_numpy()
    return np.where(commercial, np.char.add("commercial_", kind),
                    np.char.add(np.char.add(new, "_"), kind)).astype(object)


def _customer_tiers(frame: pd.DataFrame, strategy: Strategy) -> np.ndarray:
    given = frame["customer_tier"]
    bad = given.notna() & ~given.isin(strategy.customer_tiers)
    if bad.any():
        raise ApplicationError("customer_tier", f"tiers not in the strategy: "
                                                f"{sorted(given[bad].unique())}")
    score = pd.to_numeric(frame["customer_score"], errors="coerce").to_numpy(dtype=float)
    tiers = np.full(len(frame), strategy.customer_tiers[-1], dtype=object)
    for band in reversed(strategy.score_bands):  # lowest first, higher bands overwrite
        tiers = np.where(score >= band.min_score, band.tier, tiers)
    return np.where(given.notna(), given, tiers).astype(object)


def _grid(strategy: Strategy, name: str, seg: np.ndarray, ct: np.ndarray,
          dt_: np.ndarray) -> np.ndarray:
    grid = getattr(strategy, name)
    lookup = {(s, c, d): bps(v) for s, row in grid.items() for c, cells in row.items()
              for d, v in cells.items()}
    return np.array([lookup[key] for key in zip(seg, ct, dt_, strict=True)], dtype=np.int64)


def _annuity(rate: np.ndarray, term: np.ndarray) -> np.ndarray:
    monthly = rate / 12
    growth = np.ones(len(rate))
    for month in range(int(term.max()) if len(term) else 0):
        growth = np.where(month < term, growth * (1.0 + monthly), growth)
    safe = np.where(monthly == 0, 1.0, monthly)
    return np.where(monthly == 0, term.astype(float), (1.0 - 1.0 / growth) / safe)


def decide_frame(frame: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    """One decision row per application: segment, tiers, recognised price, gap, LTV, amounts,
    outcome and the ranked principal reasons ('|'-joined)."""
    n = len(frame)
    f = frame.reset_index(drop=True)
    rules = strategy.hard_rules
    seg = _segments(f)
    ct = _customer_tiers(f, strategy)
    dealer_given = f["dealer_tier"].notna().to_numpy()
    dtier = np.where(dealer_given, f["dealer_tier"], strategy.most_cautious_dealer_tier
                     ).astype(object)
    declared = f["declared_price"].to_numpy(dtype=np.int64)
    basis = f["valuation"].to_numpy(dtype=np.int64)
    term = f["term_months"].to_numpy(dtype=np.int64)
    reg = pd.to_datetime(f["first_registration"])
    on = pd.to_datetime(f["decision_date"])
    age = ((on.dt.year - reg.dt.year) * 12 + on.dt.month - reg.dt.month).to_numpy()

    decline_codes = [
        ("SEGMENT_NOT_OFFERED", ~np.isin(seg, rules.segments_offered)),
        ("DECLINE_FLOOD_DAMAGE", f["flood_damage"].astype(bool).to_numpy()
         & rules.decline_flood_damage),
        ("DECLINE_FIRE_DAMAGE", f["fire_damage"].astype(bool).to_numpy()
         & rules.decline_fire_damage),
        ("DECLINE_VEHICLE_AGE", age + term > rules.max_age_at_term_end_months),
        ("DECLINE_MILEAGE", f["mileage_km"].to_numpy(dtype=float) > rules.max_mileage_km),
    ]
    refer_codes = [("REFER_LOW_CONFIDENCE",
                    f["confidence_level"].isin(rules.refer_confidence_levels).to_numpy())]

    tol = _grid(strategy, "price_tolerance", seg, ct, dtier)
    ltv = _grid(strategy, "ltv_max", seg, ct, dtier)
    cap_price = basis * (BPS + tol) // BPS
    recognized = np.minimum(declared, cap_price)
    gap_bps = _gap_bps(declared, basis)
    refer_codes.append(("PRICE_GAP_EXCESSIVE", gap_bps > bps(strategy.refer_gap)))
    requested = declared - f["down_payment"].to_numpy(dtype=np.int64)

    cuts: dict[str, np.ndarray] = {}

    def cap(amount: np.ndarray, limit: np.ndarray, code: str) -> np.ndarray:
        after = np.minimum(amount, limit)
        cuts[code] = cuts.get(code, np.zeros(n, dtype=np.int64)) + (amount - after)
        return after

    amount = cap(requested, declared * ltv // BPS, "LTV_CAP")
    amount = cap(amount, recognized * ltv // BPS, "PRICE_CAPPED")
    is_new = f["is_new"].astype(bool).to_numpy()
    reg_basis = np.where(is_new, recognized, np.minimum(declared, basis))
    reg_cap = np.array([bps(REGULATORY_LTV_CAP[s]) for s in seg], dtype=np.int64)
    amount = cap(amount, reg_basis * reg_cap // BPS, "REGULATORY_LTV_CAP")
    before_adjustments = amount
    factor = _annuity(f["annual_rate"].astype(float).to_numpy(), term)
    income = f["monthly_income"].to_numpy(dtype=np.int64)
    debt = f["monthly_debt_payments"].to_numpy(dtype=np.int64)
    products = f["product"].fillna(strategy.default_product).to_numpy(dtype=object)
    unknown = set(products) - set(strategy.products)
    if unknown:
        raise ApplicationError("product", f"unknown products {sorted(unknown)}")
    below_min = np.zeros(n, dtype=bool)
    for adj in strategy.adjustments:
        if adj.type in ("payment_to_income", "debt_to_income"):
            assert adj.max_ratio is not None
            payment = income * bps(adj.max_ratio) // BPS
            if adj.type == "debt_to_income":
                payment = np.maximum(payment - debt, 0)
            code = "PTI_CAP" if adj.type == "payment_to_income" else "DTI_CAP"
            amount = cap(amount, (payment * factor).astype(np.int64), code)
        elif adj.type == "product_bounds":
            pmax = np.array([strategy.products[p].max_amount for p in products], dtype=np.int64)
            pmin = np.array([strategy.products[p].min_amount for p in products], dtype=np.int64)
            amount = cap(amount, pmax, "PRODUCT_MAX")
            below_min |= amount < pmin
        else:
            assert adj.unit is not None
            amount = cap(amount, amount // adj.unit * adj.unit, "ROUNDING")
    decline_codes.append(("BELOW_PRODUCT_MIN", below_min))

    declined = np.zeros(n, dtype=bool)
    for _, mask in decline_codes:
        declined |= mask
    referred = np.zeros(n, dtype=bool)
    for _, mask in refer_codes:
        referred |= mask
    outcome = np.where(declined, DECLINE, np.where(referred, REFER, APPROVE))
    final = np.where(declined, 0, np.maximum(amount, 0))
    reasons = _rank_reasons(n, decline_codes, refer_codes, cuts, ~dealer_given)
    return pd.DataFrame({
        "outcome": outcome, "segment": seg, "customer_tier": ct, "dealer_tier": dtier,
        "recognized_price": recognized, "price_gap_bps": gap_bps, "ltv_bps": ltv,
        "requested_amount": requested, "limit_before_adjustments": before_adjustments,
        "final_limit": final, "price_capped": recognized < declared, "reasons": reasons,
    })


def _gap_bps(declared: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(declared - basis) / basis in basis points, rounded half-even like Decimal.quantize."""
    num = (declared - basis) * BPS
    q, r = np.divmod(num, basis)
    twice = 2 * r
    up = (twice > basis) | ((twice == basis) & (q % 2 == 1))
    return q + up


def _rank_reasons(n: int, declines: list, refers: list, cuts: dict[str, np.ndarray],
                  unknown_dealer: np.ndarray) -> list[str]:
    out = []
    names = sorted(cuts)
    cut_matrix = np.stack([cuts[c] for c in names], axis=1) if names else np.zeros((n, 0))
    for i in range(n):
        codes = [c for c, m in declines if m[i]] + [c for c, m in refers if m[i]]
        ranked = sorted((-int(cut_matrix[i, j]), names[j]) for j in range(len(names))
                         if cut_matrix[i, j] > 0)
        codes += [c for _, c in ranked]
        codes = list(dict.fromkeys(codes))
        if unknown_dealer[i]:
            codes.append("DEALER_TIER_UNKNOWN")
        out.append("|".join(codes[:MAX_PRINCIPAL_REASONS]))
    return out
