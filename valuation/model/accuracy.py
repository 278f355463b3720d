"""Valuation accuracy metrics and the evaluation table (overall, ICE vs NEV, price band)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

COLUMNS = ("n", "mae", "mape", "mdape", "within_5", "within_10", "within_20", "over_10",
           "coverage", "width")
HEADERS = {"n": "n", "mae": "MAE", "mape": "MAPE%", "mdape": "MdAPE%", "within_5": "±5%",
           "within_10": "±10%", "within_20": "±20%", "over_10": "over+10%",
           "coverage": "P10-P90 cov%", "width": "med width%"}


def accuracy(price: np.ndarray, value: np.ndarray, low: np.ndarray | None = None,
             high: np.ndarray | None = None) -> dict[str, float]:
    """Point and range metrics; percentages are 0-100. Without a range, coverage/width are NaN."""
    price = np.asarray(price, dtype=float)
    value = np.asarray(value, dtype=float)
    n = len(price)
    if n == 0:
        return {c: (0 if c == "n" else math.nan) for c in COLUMNS}
    rel = value / price - 1
    ape = np.abs(rel)
    out = {
        "n": n,
        "mae": float(np.mean(np.abs(value - price))),
        "mape": float(np.mean(ape) * 100),
        "mdape": float(np.median(ape) * 100),
        "within_5": float(np.mean(ape <= 0.05) * 100),
        "within_10": float(np.mean(ape <= 0.10) * 100),
        "within_20": float(np.mean(ape <= 0.20) * 100),
        "over_10": float(np.mean(rel > 0.10) * 100),
        "coverage": math.nan,
        "width": math.nan,
    }
    if low is not None and high is not None:
        low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
        out["coverage"] = float(np.mean((price >= low) & (price <= high)) * 100)
        out["width"] = float(np.median((high - low) / value) * 100)
    return out


def price_bands(price: pd.Series) -> pd.Series:
    """Three bands at the terciles of the evaluated prices, labelled with their bounds."""
    edges = price.quantile([1 / 3, 2 / 3]).round(-2).to_numpy()
    labels = [f"price < {edges[0]:,.0f}", f"price {edges[0]:,.0f}-{edges[1]:,.0f}",
              f"price >= {edges[1]:,.0f}"]
    band = np.where(price < edges[0], labels[0], np.where(price < edges[1], labels[1], labels[2]))
    return pd.Series(band, index=price.index)


def segment_report(frame: pd.DataFrame, value: np.ndarray, low: np.ndarray | None = None,
                   high: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Metrics overall, for ICE and NEV, and per price band. `frame` has `price` and `is_nev`."""
    price = frame["price"].reset_index(drop=True)
    groups = {"overall": np.ones(len(price), dtype=bool),
              "ICE": (frame["is_nev"].to_numpy() == 0),
              "NEV": (frame["is_nev"].to_numpy() == 1)}
    bands = price_bands(price)
    for label in sorted(bands.unique(), key=lambda s: (not s.startswith("price <"), s)):
        groups[label] = (bands == label).to_numpy()
    report = {}
    for name, mask in groups.items():
        if mask.sum() == 0:
            continue
        report[name] = accuracy(price[mask].to_numpy(), value[mask],
                                None if low is None else low[mask],
                                None if high is None else high[mask])
    return report


def format_report(title: str, report: dict[str, dict[str, float]]) -> str:
    """A fixed-width table, one row per segment."""
    width = max([len(k) for k in report] + [10])
    head = f"{'segment':<{width}} " + " ".join(f"{HEADERS[c]:>12}" for c in COLUMNS)
    lines = [title, head, "-" * len(head)]
    for name, row in report.items():
        cells = []
        for col in COLUMNS:
            val = row[col]
            if col == "n":
                cells.append(f"{int(val):>12,}")
            elif isinstance(val, float) and math.isnan(val):
                cells.append(f"{'n/a':>12}")
            elif col == "mae":
                cells.append(f"{val:>12,.0f}")
            else:
                cells.append(f"{val:>12.2f}")
        lines.append(f"{name:<{width}} " + " ".join(cells))
    return "\n".join(lines)
