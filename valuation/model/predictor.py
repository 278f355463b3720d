"""The predictor: a loaded model version that values canonical records (value, P10-P90 range,
confidence, warnings). It loads once per process and serves many calls."""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from catboost import CatBoostRegressor, Pool

from . import features, priors
from .record import validate_frame
from .registry import Registry

POINT_FILE, LOW_FILE, HIGH_FILE = "point.cbm", "low.cbm", "high.cbm"
PROFILE_FILE = "profile.json"
HIGH, MEDIUM = 0.7, 0.4  # confidence score thresholds for the levels
RARE_SERIES_ROWS = 20
# how a missing guide price was filled: not at all, from the series (then brand) median, or,
# for a brand and series the model does not know, from the median of cars of its energy type
GIVEN, SERIES, SEGMENT = "", "series", "segment"
# (confidence factor, reason, warning) of each way of filling it
SERIES_GUESS = (0.85, "new_price inferred from the series",
                "new_price missing: inferred from the series median")
SEGMENT_GUESS = (0.3, "new_price unknown: a segment's median guide price assumed",
                 "new_price missing and brand and series unknown: the median guide price of "
                 "cars of its energy type was assumed; give new_price for a real valuation")
UNUSUAL_KM_PER_YEAR = (1_000, 60_000)  # outside this, mileage is unusual for the age (cars >= 2 y)
# A given guide price more than this many times above (or below) the median guide price of its
# series in training is probably mistyped (an extra zero) or inflated: in retention mode the
# value scales with it, so the confidence is halved and the caller is told.
GUIDE_PRICE_RATIO = 2.5
GUIDE_PRICE_FACTOR = 0.5
GUIDE_PRICE_REASON = "guide price far from the series' typical"


def guide_price_warning(given: float, typical: float) -> str:
    ratio = given / typical
    times = f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.2g}"  # 0.3x, 2.6x, 10x, 5,000,000x
    return (f"new_price {given:,.0f} is {times}x the typical guide price of this series "
            f"({typical:,.0f}): check it")


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for a batch: a batch builds tens of thousands
    of small containers that live until the response (no cycles to find), and each full
    collection on the way walks every object the process holds (a 5,000-car batch with
    breakdowns: about a third of its time). Nested and re-entrant: only the outermost pause
    turns the collector back on, and only if it was on."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def serving_copy(model: CatBoostRegressor) -> CatBoostRegressor:
    """A model just loaded for serving, stripped in place of its stored training parameters
    (the `params` metadata; the file on disk keeps them). CatBoost re-reads them on every
    prediction call: about 250 us a call for the demo model whatever the rows, against about
    20 us without them. The trees and the feature layout are untouched; a test proves the
    predictions identical."""
    metadata = model.get_metadata()
    if "params" in metadata:
        del metadata["params"]
    return model


@dataclass
class Predictor:
    """Point, P10 and P90 CatBoost models plus the card and the training profile."""

    point: CatBoostRegressor
    low: CatBoostRegressor
    high: CatBoostRegressor
    card: dict[str, Any]
    profile: dict[str, Any]

    @classmethod
    def load(cls, registry: Registry, spec: str) -> Predictor:
        folder, card = registry.load(spec)
        return cls.from_folder(folder, card)

    @classmethod
    def from_folder(cls, folder: Path, card: dict[str, Any]) -> Predictor:
        models = []
        for filename in (POINT_FILE, LOW_FILE, HIGH_FILE):
            model = CatBoostRegressor()
            model.load_model(str(folder / filename))
            models.append(serving_copy(model))
        profile = json.loads((folder / PROFILE_FILE).read_text())
        point, low, high = models
        return cls(point=point, low=low, high=high, card=card, profile=profile)

    def save(self, folder: Path) -> None:
        self.point.save_model(str(folder / POINT_FILE))
        self.low.save_model(str(folder / LOW_FILE))
        self.high.save_model(str(folder / HIGH_FILE))
        (folder / PROFILE_FILE).write_text(json.dumps(self.profile, ensure_ascii=False))

    @property
    def neutral(self) -> tuple[str, ...]:
        """Fields whose effect is a prior, not learned: blank in the model input."""
        return tuple(f for f, spec in self.card.get("priors", {}).items() if spec["applied"])

    @property
    def ref(self) -> dict[str, str]:
        return {"name": self.card.get("name", ""), "version": self.card.get("version", "")}

    # -- offsets -------------------------------------------------------------------------
    def fill_new_price(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """New price where missing: the series median, then the brand median, then (a brand and
        series the model does not know) the median of the car's energy type, then of every car.
        Returns the filled prices and how each was filled (GIVEN, SERIES or SEGMENT); a model
        trained before the segment medians existed leaves such a price missing."""
        lookup = self.profile["new_price"]
        by_series, by_brand = lookup["series"], lookup["brand"]
        by_energy, overall = lookup.get("energy", {}), lookup.get("all")
        nan = math.nan
        at, keys, brands = features.series_keys(frame)
        line = np.array([by_series.get(key, by_brand.get(brand, nan)) for key, brand in zip(
            keys, brands, strict=True)], dtype="float64")[at]
        segment = np.array([by_energy.get(energy, nan)
                            for energy in frame["energy_type"].astype(str).tolist()],
                           dtype="float64")
        if overall is not None:
            segment = np.where(np.isnan(segment), float(overall), segment)
        given = frame["new_price"].to_numpy(dtype="float64")
        known = ~np.isnan(given)
        how = np.where(known, GIVEN, np.where(~np.isnan(line), SERIES,
                                              np.where(~np.isnan(segment), SEGMENT, GIVEN)))
        filled = np.where(known, given, np.where(np.isnan(line), segment, line))
        return (pd.Series(filled, index=frame.index, name="new_price"),
                pd.Series(how, index=frame.index))

    def offset(self, derived: pd.DataFrame) -> np.ndarray:
        """The per-row offset added to the models' output (log space)."""
        base = np.full(len(derived), float(self.card["target"]["center"]))
        if self.card["target"]["mode"] == "retention":
            base = base + np.log(derived["new_price"].to_numpy(dtype=float))
        return base

    def offset_one(self, record: dict[str, Any]) -> float:
        """`offset` for one derived record (the same numpy operations, so the same bits)."""
        base = float(self.card["target"]["center"])
        if self.card["target"]["mode"] == "retention":
            base = float(np.float64(base) + np.log(np.float64(record["new_price"])))
        return base

    @functools.cached_property
    def _cat_indices(self) -> list[int]:
        return list(self.point.get_cat_feature_indices())

    def pool(self, rows: list[list[Any]]) -> Pool:
        """One CatBoost pool of `features.model_row` values, shared by the three models (the
        point, P10 and P90 models have the same features): built once per valuation. (CatBoost
        reads an object array in about half the time of the same list of lists.) Built on the
        calling thread: with CatBoost's default of every core, building this pool of a few
        rows woke a worker thread of its thread pool, which then spun (sched_yield) for about
        as long as the valuation took, doubling its CPU time (in process, 757 us of CPU time a
        valuation against 350 us) and taking a core from the other web worker."""
        return Pool(np.array(rows, dtype=object), cat_features=self._cat_indices, thread_count=1)

    @staticmethod
    def raw_predict(model: CatBoostRegressor, pool: Pool, threads: int = 1) -> np.ndarray:
        """The model's raw output for a `pool` (of `features.model_row` values, or of a
        `features.model_input` frame): no per-call parameter handling (a few rows cost
        microseconds, not the milliseconds of `predict` on a DataFrame). One thread for a
        single car; -1 (every core, as `predict` does) for a batch. Same numbers as
        `model.predict`."""
        return np.asarray(model._object._base_predict(pool, "RawFormulaVal", 0, 0, threads,
                                                      False, "CPU"))

    @property
    def point_shift(self) -> float:
        """Log shift of the point model (squared-error models: to the training's
        `point_quantile`, the median by default)."""
        return float(self.card.get("point", {}).get("shift", 0.0))

    def log_predict(self, derived: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log point, P10 and P90 before prior adjustments, for derived rows."""
        # one pool for the three models: CatBoost converts the frame once, not three times
        pool = Pool(features.model_input(derived, self.neutral), cat_features=self._cat_indices)
        off = self.offset(derived)
        point = self.raw_predict(self.point, pool, -1) + off + self.point_shift
        shift = float(self.card["calibration"]["conformal_shift"])
        low = np.minimum(self.raw_predict(self.low, pool, -1) + off - shift, point)
        high = np.maximum(self.raw_predict(self.high, pool, -1) + off + shift, point)
        return point, low, high

    # -- the public call -----------------------------------------------------------------
    def prepare(self, raw: pd.DataFrame, today: dt.date | None = None
                ) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.DataFrame]:
        """Validate, infer a missing guide price, derive and complete canonical records.
        Returns (derived rows, error text per row ('' if valid), how a missing guide price was
        filled (GIVEN, SERIES or SEGMENT), assumed-fields mask)."""
        checked = validate_frame(raw, training=False, today=today)
        errors = checked.messages()
        imputed = pd.Series(GIVEN, index=checked.frame.index)
        if self.card["target"]["mode"] == "retention":
            filled, imputed = self.fill_new_price(checked.frame)
            checked.frame["new_price"] = filled
            no_basis = filled.isna() & (errors == "")
            errors[no_basis] = ("new_price is required for this model: brand and series "
                                "unknown, no guide price to infer")
        derived, assumed = self.complete(features.derive(checked.frame))
        return derived, errors, imputed, assumed

    def point_values(self, rows: pd.DataFrame) -> np.ndarray:
        """Only the point value (model x priors) of typed canonical rows the service built
        itself (the breakdown's stages, the residual points): derived and completed, never
        validated again."""
        derived, _ = self.complete(features.derive(rows))
        pool = Pool(features.model_input(derived, self.neutral), cat_features=self._cat_indices)
        point = self.raw_predict(self.point, pool, -1) + self.offset(derived) + self.point_shift
        return np.exp(point) * priors.combined(priors.factors(derived, self.card["priors"]))

    def predict(self, raw: pd.DataFrame, today: dt.date | None = None) -> pd.DataFrame:
        """Value canonical records. Returns one row per input row: value, value_low,
        value_high, confidence, confidence_level, reasons, warnings, error, prior factors."""
        return self.predict_with_rows(raw, today)[0]

    @collector_paused()
    def predict_with_rows(self, raw: pd.DataFrame, today: dt.date | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """`predict`, plus the completed canonical rows it valued (for the breakdown)."""
        derived, errors, imputed, assumed = self.prepare(raw, today)
        ok = (errors == "").to_numpy()
        n = len(derived)
        columns: dict[str, Any] = {"error": np.array([e or None for e in errors.tolist()],
                                                    dtype=object)}
        for col in ("value", "value_low", "value_high", "confidence"):
            columns[col] = np.full(n, np.nan)
        columns["confidence_level"] = np.full(n, None, dtype=object)
        columns["reasons"] = [[] for _ in range(n)]
        columns["warnings"] = [[] for _ in range(n)]
        if ok.any():
            every = bool(ok.all())  # the usual batch: no copies of the frames
            rows = derived if every else derived[ok]
            point, low, high = self.log_predict(rows)
            factor_frame = priors.factors(rows, self.card["priors"])
            factor = priors.combined(factor_frame)
            columns["value"][ok] = np.exp(point) * factor
            columns["value_low"][ok] = np.exp(low) * factor
            columns["value_high"][ok] = np.exp(high) * factor
            for col in factor_frame.columns:
                columns[f"prior_{col}"] = np.full(n, np.nan)
                columns[f"prior_{col}"][ok] = factor_frame[col].to_numpy()
            rel_width = (np.exp(high) - np.exp(low)) / np.exp(point)
            score, reasons, warnings = self.assess(rows, rel_width,
                                                   imputed if every else imputed[ok], factor_frame)
            for i, text in enumerate(self.assumption_notes(rows,
                                                           assumed if every else assumed[ok])):
                if text:
                    warnings[i].append(text)
            columns["confidence"][ok] = score
            columns["confidence_level"][ok] = np.where(
                score >= HIGH, "high", np.where(score >= MEDIUM, "medium", "low"))
            for i, at in enumerate(np.flatnonzero(ok).tolist()):
                columns["reasons"][at] = reasons[i]
                columns["warnings"][at] = warnings[i]
        for col in ("error", "confidence_level"):  # texts or None (pandas would make None NaN)
            columns[col] = pd.Series(columns[col], index=derived.index, dtype=object)
        return pd.DataFrame(columns, index=derived.index), derived

    def complete(self, derived: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Fill condition fields the caller left out with typical values (features.fill_defaults)."""
        expected = priors.expected_soh(derived["age_months"], derived["mileage_km"])
        return features.fill_defaults(derived, self.profile["defaults"], expected)

    @staticmethod
    def assumption_notes(rows: pd.DataFrame, assumed: pd.DataFrame) -> list[str]:
        """Per row, one warning naming the condition fields assumed typical."""
        parts = []
        for col in assumed.columns:
            mask = assumed[col].reindex(rows.index).fillna(False).to_numpy(dtype=bool)
            if not mask.any():
                continue
            picked = rows.loc[mask, col]
            if picked.dtype.kind == "f":
                shown = [f"{value:g}" for value in picked.to_numpy()]
            else:
                shown = [str(value).lower() for value in picked.to_numpy()]
            text = np.full(len(rows), "", dtype=object)
            text[mask] = [f"{col}={value}" for value in shown]
            parts.append(text)
        notes = []
        for i in range(len(rows)):
            given = [p[i] for p in parts if p[i]]
            notes.append(f"not given, assumed typical: {', '.join(given)}" if given else "")
        return notes

    def assess(self, rows: pd.DataFrame, rel_width: np.ndarray, imputed: pd.Series,
               factor_frame: pd.DataFrame) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
        """Confidence score 0-1 with its reasons, and warnings, per row."""
        prof = self.profile
        ref_width = float(prof["median_rel_width"])
        score = np.clip(1.2 - 0.5 * rel_width / ref_width, 0.0, 1.0)
        reasons: list[list[str]] = [[] for _ in range(len(rows))]
        warnings: list[list[str]] = [[] for _ in range(len(rows))]
        wide = np.flatnonzero(rel_width > ref_width)
        # whole percent as `:.0%` writes it (x 100, round half to even), one text per percent
        percents = np.rint(rel_width[wide] * 100).astype(np.int64).tolist()
        texts = {p: f"range wider than typical ({p}% vs {ref_width:.0%})" for p in set(percents)}
        for i, p in zip(wide.tolist(), percents, strict=True):
            reasons[i].append(texts[p])

        def penalise(mask: np.ndarray, factor: float, reason: str | None,
                     warning: str | None) -> None:
            nonlocal score
            score = np.where(mask, score * factor, score)
            for i in np.flatnonzero(mask):
                if reason:
                    reasons[i].append(reason)
                if warning:
                    warnings[i].append(warning)

        brand_counts, series_counts = prof["brand_counts"], prof["series_counts"]
        at, keys, brands = features.series_keys(rows)
        brand_n = np.array([brand_counts.get(b, 0) for b in brands], dtype="float64")[at]
        series_n = np.array([series_counts.get(k, 0) for k in keys], dtype="float64")[at]
        penalise(brand_n == 0, 0.4, "brand not seen in training", "unknown brand")
        penalise((brand_n > 0) & (series_n == 0), 0.5, "series not seen in training",
                 "unknown series")
        penalise((series_n > 0) & (series_n < RARE_SERIES_ROWS), 0.8,
                 "series rare in training", None)
        typical = np.array([prof["new_price"]["series"].get(k, np.nan) for k in keys],
                           dtype="float64")[at]
        given = rows["new_price"].to_numpy(dtype="float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = given / typical
        odd = (imputed.to_numpy() == GIVEN) & ((ratio > GUIDE_PRICE_RATIO)
                                               | (ratio < 1 / GUIDE_PRICE_RATIO))
        score = np.where(odd, score * GUIDE_PRICE_FACTOR, score)
        for i in np.flatnonzero(odd).tolist():
            reasons[i].append(GUIDE_PRICE_REASON)
            warnings[i].append(guide_price_warning(float(given[i]), float(typical[i])))
        for col in ("age_months", "mileage_km"):
            lo, hi = prof["ranges"][col]
            values = rows[col].to_numpy(dtype=float)
            penalise((values < lo) | (values > hi), 0.75, f"{col} outside the training range",
                     f"{col} outside the training range ({lo:,.0f}-{hi:,.0f})")
        kmy = rows["mileage_per_year_km"].to_numpy(dtype=float)
        unusual = (rows["age_months"].to_numpy() >= 24) & (
            (kmy < UNUSUAL_KM_PER_YEAR[0]) | (kmy > UNUSUAL_KM_PER_YEAR[1]))
        penalise(unusual, 0.9, "mileage unusual for age", "mileage unusual for age")
        how = imputed.to_numpy()
        penalise(how == SERIES, *SERIES_GUESS)
        penalise(how == SEGMENT, *SEGMENT_GUESS)
        for col in factor_frame.columns:
            bites = factor_frame[col].to_numpy() != 1.0
            penalise(bites, 0.85, f"prior adjustment for {col}",
                     f"{col}: prior adjustment applied ({self.card['priors'][col]['rule']})")
        soh_non_nev = rows["battery_soh_pct"].notna().to_numpy() & (rows["is_nev"] == 0).to_numpy()
        penalise(soh_non_nev, 1.0, None, "battery_soh_pct ignored: not an NEV")
        for col, label in (("flood_damage", "flood-damaged (泡水)"), ("fire_damage", "fire-damaged (火烧)")):
            flagged = rows[col].astype("boolean").fillna(False).to_numpy(dtype=bool)
            penalise(flagged, 1.0, None, label)
        return score, reasons, warnings
