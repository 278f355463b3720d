"""Training: a canonical CSV into CatBoost point and P10/P90 band models with conformal
calibration, evaluated against a plain CatBoost baseline, saved as a registry version."""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import catboost
import numpy as np
import pandas as pd
from catboost import CatBoostRegressor

from ..errors import DataError
from . import accuracy, features, priors
from .predictor import Predictor
from .record import NAMES, validate_frame
from .registry import Registry

Progress = Callable[[str, int, int], None]
Echo = Callable[[str], None]

RETENTION_MIN_SHARE = 0.95  # model retention (price/new_price) when this share has new_price
CALIBRATION_FRACTION = 0.15
MIN_TRAIN_ROWS = 200
CTR_TARGET_BORDERS = 5
CTR_BORDERS_MIN_ROWS = 10_000
FLOAT_BORDERS = 128


@dataclass
class TrainConfig:
    """Everything `valuation train` takes; stored in the card."""

    data: Path
    name: str
    currency: str = "CNY"
    eval_split: str = "random"  # random | time
    eval_fraction: float = 0.2
    eval_from: dt.date | None = None  # time split at this date instead of a fraction
    seed: int = 42
    iterations: int = 2000
    learning_rate: float = 0.1
    # 0: the point model's depth is chosen on the calibration rows (inside the training split)
    # from DEPTH_CHOICES, with its loss; a small market wants shallower trees than a large one
    depth: int = 0
    # The point estimate (retail) is the median, the best single estimate of the price; the
    # lender's conservatism lives in `lending` (the P10) and the over-valued share is reported.
    # On validation rows inside the training split the median beat the 45th percentile on AU
    # EV listings (5.56 % -> 5.33 % MdAPE) and US Tesla (3.00 % -> 2.88 %).
    point_quantile: float = 0.5
    # "auto": choose the point loss (squared error or the quantile loss) on the calibration
    # split; neither wins on every market.
    point_loss: str = "auto"
    # Recent sales weigh more: weight halves every this many months before the latest sale
    # (0 = equal weights). None: chosen from HALF_LIFE_CHOICES on the calibration rows. A
    # single-date snapshot gets equal weights either way.
    recency_half_life_months: float | None = None
    coverage: float = 0.8
    threads: int = -1
    baseline: bool = True
    synthetic: bool = False
    notes: str = ""


@dataclass
class TrainResult:
    version: str
    card: dict[str, Any]
    report: str


def file_hash(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def load_training_frame(path: Path, echo: Echo) -> tuple[pd.DataFrame, dict[str, int]]:
    """Read and validate a canonical CSV; invalid rows are dropped with a count per reason."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    raw = pd.read_csv(path, dtype=str, keep_default_na=True)
    checked = validate_frame(raw, training=True)
    counts = checked.reason_counts()
    valid = checked.valid.to_numpy()
    echo(f"read {len(raw):,} rows from {path}; {int(valid.sum()):,} valid, "
         f"{int((~valid).sum()):,} dropped")
    for reason, n in counts.items():
        echo(f"  dropped {n:,} rows: {reason}")
    frame = features.derive(checked.frame[valid]).reset_index(drop=True)
    return frame, {"read": len(raw), "valid": int(valid.sum()), **counts}


def split_eval(frame: pd.DataFrame, cfg: TrainConfig) -> np.ndarray:
    """Boolean mask of held-out rows: random, time by fraction, or time from a date."""
    n = len(frame)
    if cfg.eval_from is not None:
        return (frame["valuation_date"] >= pd.Timestamp(cfg.eval_from)).to_numpy()
    if cfg.eval_fraction <= 0:
        return np.zeros(n, dtype=bool)
    if cfg.eval_split == "time":
        cut = frame["valuation_date"].quantile(1 - cfg.eval_fraction)
        return (frame["valuation_date"] >= cut).to_numpy()
    rng = np.random.default_rng(cfg.seed)
    return rng.random(n) < cfg.eval_fraction


def split_calibration(frame: pd.DataFrame, cfg: TrainConfig) -> np.ndarray:
    """Calibration rows within the training rows: the latest ones for a time split."""
    n = len(frame)
    if cfg.eval_split == "time" or cfg.eval_from is not None:
        order = np.argsort(frame["valuation_date"].to_numpy(), kind="stable")
        mask = np.zeros(n, dtype=bool)
        mask[order[int(n * (1 - CALIBRATION_FRACTION)):]] = True
        return mask
    rng = np.random.default_rng(cfg.seed + 1)
    return rng.random(n) < CALIBRATION_FRACTION


class _CatBoostProgress:
    """CatBoost callback that reports iterations to a Progress function."""

    def __init__(self, stage: str, total: int, progress: Progress) -> None:
        self.stage, self.total, self.progress = stage, total, progress

    def after_iteration(self, info: Any) -> bool:
        done = info.iteration + 1
        if done == self.total or done % 50 == 0:
            self.progress(self.stage, done, self.total)
        return True


def regressor(cfg: TrainConfig, loss: str, rows: int, **extra: Any) -> CatBoostRegressor:
    """A CatBoost model under the feature contract's constraints. `rows` is the size of the
    training set the model stands for (the loss trials pass the point model's, so that they
    are set up like it)."""
    params: dict[str, Any] = dict(
        loss_function=loss, iterations=cfg.iterations, learning_rate=cfg.learning_rate,
        depth=cfg.depth or max(DEPTH_CHOICES), random_seed=cfg.seed, thread_count=cfg.threads, verbose=0,
        cat_features=list(features.CATEGORICAL), allow_writing_files=False,
        # ctr combinations of a categorical and a float split can break monotone constraints
        # (catboost issue 2272): no combinations.
        max_ctr_complexity=1, monotone_constraints=dict(features.MONOTONE),
        # 128 numeric split candidates instead of 254: about 40 % faster under monotone
        # constraints for a 0.03-point MdAPE cost (MathorCup time split, 500 iterations)
        border_count=FLOAT_BORDERS)
    if loss == "RMSE" and rows >= CTR_BORDERS_MIN_ROWS:
        # a regression target statistic of a categorical (series, variant, ...) counts the
        # rows above each target border; CatBoost's default of one border says only "above
        # or below the median". Five borders describe a model line's price level better for
        # squared error (MathorCup, 500 iterations: MdAPE 6.50 % -> 6.28 %); they did not
        # help the quantile loss (UK: 5.03 % -> 5.08 %) and double its training time, and on
        # small data the finer statistics are noise (AU, 2,100 rows: 5.84 % -> 6.15 %).
        params["ctr_target_border_count"] = CTR_TARGET_BORDERS
    params.update(extra)
    return CatBoostRegressor(**params)


def target_spec(frame: pd.DataFrame) -> dict[str, Any]:
    """Retention target when nearly every row has a guide price, else log price; centred,
    because CatBoost with monotone constraints starts from zero and stays biased otherwise."""
    share = float(frame["new_price"].notna().mean())
    mode = "retention" if share >= RETENTION_MIN_SHARE else "price"
    y = features.target(frame)
    if mode == "retention":
        y = y - np.log(frame["new_price"].to_numpy(dtype=float))
    return {"mode": mode, "center": float(np.nanmean(y)), "new_price_share": share}


def build_profile(frame: pd.DataFrame, rel_width: float) -> dict[str, Any]:
    """What the predictor needs to know about the training data (counts, ranges, lookups)."""
    key = frame["brand"].astype(str) + "|" + frame["series"].astype(str)
    with_price = frame[frame["new_price"].notna()]
    wp_key = with_price["brand"].astype(str) + "|" + with_price["series"].astype(str)
    ranges = {col: [float(frame[col].quantile(0.005)), float(frame[col].quantile(0.995))]
              for col in ("age_months", "mileage_km")}
    return {
        "series_counts": key.value_counts().to_dict(),
        "brand_counts": frame["brand"].astype(str).value_counts().to_dict(),
        "new_price": {
            "series": with_price.groupby(wp_key)["new_price"].median().round(0).to_dict(),
            "brand": with_price.groupby(with_price["brand"].astype(str))["new_price"]
            .median().round(0).to_dict(),
            # the last resort for a brand and series the model does not know
            "energy": with_price.groupby(with_price["energy_type"].astype(str))["new_price"]
            .median().round(0).to_dict(),
            "all": float(with_price["new_price"].median().round(0)) if len(with_price) else None,
        },
        "ranges": ranges,
        "median_rel_width": rel_width,
        "median_km_per_year": float(frame["mileage_per_year_km"].median()),
        "valuation_dates": [str(frame["valuation_date"].min().date()),
                            str(frame["valuation_date"].max().date())],
    }


SELECTION_ROWS = 30_000
SELECTION_MARGIN = 0.05
# From this many fit rows on, the point model takes depth 10 and only its loss is chosen:
# quick trials on a sample under-rate deep trees on a large market (validation rows inside
# the training split: UK, 66,000 fit rows, depth 10 5.01 % MdAPE against 5.25 % at depth 6,
# the trials preferring depth 6 by 0.7 %; MathorCup, 18,000 fit rows, 5.94 % against 6.22 %,
# the trials preferring depth 10 by 2.2 %, under the margin), while on small markets the
# margin protects (US Tesla, 3,100 fit rows: the trials preferred depth 10 by 4.3 %, the
# validation rows gave 2.58 % at depth 10 against 2.44 % at depth 6).
DEEP_ROWS = 10_000
DEPTH_CHOICES = (6, 10)
BAND_DEPTH = 6


# How fast a market forgets differs (validation rows inside the training split, fixed half-life
# 12 / 24 months: US Tesla 2.34 % / 2.42 % MdAPE, AU EV listings 5.55 % / 5.25 %); chosen per
# market by quick trials on the calibration rows, the shorter unless the longer is clearly
# better (SELECTION_MARGIN). Chosen so: Tesla 12 (2.34 %), AU 24 (5.25 %).
HALF_LIFE_CHOICES = (12.0, 24.0)


def choose_half_life(x: pd.DataFrame, y: np.ndarray, cal: np.ndarray, frame: pd.DataFrame,
                     cfg: TrainConfig, progress: Progress) -> tuple[float, dict[str, float]]:
    """The recency half-life (months) and the MdAPE % of each candidate on the calibration
    rows (training rows only), from quick median models fitted on (at most SELECTION_ROWS of)
    the other rows. A set half-life, or a market whose sales share one month, is not tried."""
    if cfg.recency_half_life_months is not None:
        return cfg.recency_half_life_months, {}
    months = frame["valuation_month"].to_numpy(dtype=float)
    if months.max() - months.min() < 1:
        return HALF_LIFE_CHOICES[0], {}
    fit_rows = np.flatnonzero(~cal)
    if len(fit_rows) > SELECTION_ROWS:
        fit_rows = np.random.default_rng(cfg.seed).choice(fit_rows, SELECTION_ROWS, replace=False)
    iterations = max(100, cfg.iterations // 4)
    trial: dict[str, float] = {}
    for half_life in HALF_LIFE_CHOICES:
        label = f"half-life {half_life:g} months"
        weight = recency_weights(frame, half_life)
        model = regressor(cfg, f"Quantile:alpha={cfg.point_quantile:g}", len(x),
                          iterations=iterations, depth=BAND_DEPTH,
                          learning_rate=min(0.3, 2 * cfg.learning_rate))
        model.fit(x.iloc[fit_rows], y[fit_rows], sample_weight=weight[fit_rows],
                  callbacks=[_CatBoostProgress(f"choosing the recency: {label}", iterations,
                                               progress)])
        residual = y[cal] - model.predict(x[cal])
        trial[label] = float(np.median(np.abs(np.exp(-residual) - 1)) * 100)
    chosen = HALF_LIFE_CHOICES[0]
    for half_life in HALF_LIFE_CHOICES[1:]:
        if trial[f"half-life {half_life:g} months"] < (1 - SELECTION_MARGIN) * trial[
                f"half-life {chosen:g} months"]:
            chosen = half_life
    return chosen, trial


def recency_weights(frame: pd.DataFrame, half_life_months: float) -> np.ndarray:
    """1 for the latest sale, halving every `half_life_months` before it."""
    if half_life_months <= 0:
        return np.ones(len(frame))
    months = frame["valuation_month"].to_numpy(dtype=float)
    return np.power(0.5, (months.max() - months) / half_life_months)


def choose_point_model(x: pd.DataFrame, y: np.ndarray, cal: np.ndarray, cfg: TrainConfig,
                       progress: Progress, weight: np.ndarray
                       ) -> tuple[str, int, float, dict[str, float]]:
    """Pick the point loss and depth by MdAPE on the calibration rows (training rows only),
    from quick models fitted on (at most SELECTION_ROWS of) the other rows. Squared error must
    beat the quantile loss by SELECTION_MARGIN at its best depth; a deeper tree must beat a
    shallower one by the same margin. Squared error estimates the mean log price, so it gets
    a shift to the `point_quantile` of its calibration residuals: either way the point is that
    quantile. Returns (loss, depth, shift, MdAPE % per candidate "loss depth N")."""
    quantile = f"Quantile:alpha={cfg.point_quantile:g}"
    fit_rows = np.flatnonzero(~cal)
    depths = (cfg.depth,) if cfg.depth else DEPTH_CHOICES
    if not cfg.depth and len(fit_rows) >= DEEP_ROWS:
        depths = (max(DEPTH_CHOICES),)  # see DEEP_ROWS
    losses = (cfg.point_loss,) if cfg.point_loss != "auto" else ("RMSE", quantile)
    if len(depths) == 1 and len(losses) == 1:
        return losses[0], depths[0], 0.0, {}
    if len(fit_rows) > SELECTION_ROWS:
        fit_rows = np.random.default_rng(cfg.seed).choice(fit_rows, SELECTION_ROWS, replace=False)
    iterations = max(100, cfg.iterations // 4)
    trial: dict[str, float] = {}
    shifts: dict[tuple[str, int], float] = {}
    for loss in losses:
        for depth in depths:
            label = f"{loss} depth {depth}"
            model = regressor(cfg, loss, len(x), iterations=iterations, depth=depth,
                              learning_rate=min(0.3, 2 * cfg.learning_rate))
            model.fit(x.iloc[fit_rows], y[fit_rows], sample_weight=weight[fit_rows],
                      callbacks=[_CatBoostProgress(f"choosing the point model: {label}",
                                                   iterations, progress)])
            residual = y[cal] - model.predict(x[cal])
            shift = float(np.quantile(residual, cfg.point_quantile)) if loss == "RMSE" else 0.0
            shifts[(loss, depth)] = shift
            trial[label] = float(np.median(np.abs(np.exp(shift - residual) - 1)) * 100)

    def best_depth(loss: str) -> int:
        # the shallowest depth unless a deeper one is clearly better
        chosen = depths[0]
        for depth in depths[1:]:
            if trial[f"{loss} depth {depth}"] < (1 - SELECTION_MARGIN) * trial[
                    f"{loss} depth {chosen}"]:
                chosen = depth
        return chosen

    # the quantile loss is robust and conservative by construction: keep it unless squared
    # error is clearly better on the calibration rows
    best = {loss: best_depth(loss) for loss in losses}
    loss = losses[-1]
    if len(losses) == 2 and trial[f"RMSE depth {best['RMSE']}"] < (1 - SELECTION_MARGIN) * \
            trial[f"{quantile} depth {best[quantile]}"]:
        loss = "RMSE"
    return loss, best[loss], shifts[(loss, best[loss])], trial


def fit(frame: pd.DataFrame, cfg: TrainConfig, progress: Progress) -> Predictor:
    """Point model on every training row; P10/P90 models on the fit part, calibrated on the rest.

    Two single-quantile models rather than one MultiQuantile model: CatBoost does not
    enforce monotone constraints for MultiQuantile (catboost issue 2938)."""
    spec = target_spec(frame)
    if spec["mode"] == "retention":
        frame = frame[frame["new_price"].notna()].reset_index(drop=True)
    cal = split_calibration(frame, cfg)
    card: dict[str, Any] = {"target": spec, "calibration": {"conformal_shift": 0.0},
                            "priors": priors.plan(frame)}
    predictor = Predictor(point=None, low=None, high=None, card=card,  # type: ignore[arg-type]
                          profile={"defaults": features.learn_defaults(frame)})
    frame, _ = predictor.complete(frame)
    x = features.model_input(frame, predictor.neutral)
    y = features.target(frame) - predictor.offset(frame)
    half_life, half_life_trial = choose_half_life(x, y, cal, frame, cfg, progress)
    card["recency"] = {"half_life_months": half_life, "selection": half_life_trial}
    weight = recency_weights(frame, half_life)
    band_iterations = max(100, cfg.iterations // 4)
    for side, alpha in (("low", (1 - cfg.coverage) / 2), ("high", (1 + cfg.coverage) / 2)):
        model = regressor(cfg, f"Quantile:alpha={alpha:g}", len(x), iterations=band_iterations,
                          depth=min(cfg.depth or BAND_DEPTH, BAND_DEPTH))
        label = f"P{alpha * 100:.0f} model"
        model.fit(x[~cal], y[~cal], sample_weight=weight[~cal],
                  callbacks=[_CatBoostProgress(label, band_iterations, progress)])
        setattr(predictor, side, model)
    loss, depth, shift, trial = choose_point_model(x, y, cal, cfg, progress, weight)
    card["point"] = {"loss": loss, "depth": depth, "shift": shift, "selection": trial}
    predictor.point = regressor(cfg, loss, len(x), depth=depth)
    predictor.point.fit(x, y, sample_weight=weight,
                        callbacks=[_CatBoostProgress("point model", cfg.iterations, progress)])
    off = predictor.offset(frame[cal])
    low, high = predictor.low.predict(x[cal]) + off, predictor.high.predict(x[cal]) + off
    y_cal = y[cal] + off
    scores = np.maximum(low - y_cal, y_cal - high)
    n = len(scores)
    level = min(1.0, math.ceil((n + 1) * cfg.coverage) / n)
    card["calibration"] = {"method": "conformalized quantile regression (CQR)",
                           "rows": n, "target_coverage": cfg.coverage,
                           "conformal_shift": float(np.quantile(scores, level))}
    point, low, high = predictor.log_predict(frame[cal])
    rel = (np.exp(high) - np.exp(low)) / np.exp(point)
    predictor.profile.update(build_profile(frame, float(np.median(rel))))
    return predictor


# -- the plain baseline: log price, default parameters, raw canonical columns -------------
BASELINE_NUMERIC = ("model_year", "displacement_l", "power_kw", "battery_kwh", "range_km",
                    "battery_soh_pct", "fuel_consumption_l100km", "seats", "length_mm",
                    "width_mm", "height_mm", "new_price", "first_registration", "valuation_date",
                    "mileage_km", "transfer_count", "condition_score", "flood_damage",
                    "fire_damage")


def baseline_input(frame: pd.DataFrame) -> pd.DataFrame:
    data = {c: frame[c].astype("string").fillna(features.MISSING_CATEGORY).astype(str)
            for c in features.RECORD_CATEGORICAL}
    for c in BASELINE_NUMERIC:
        col = frame[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            col = col.dt.year + (col.dt.day_of_year - 1) / 365.25
        data[c] = pd.to_numeric(col, errors="coerce").astype(float)
    return pd.DataFrame(data)


def fit_baseline(frame: pd.DataFrame, cfg: TrainConfig) -> CatBoostRegressor:
    model = CatBoostRegressor(iterations=1000, loss_function="RMSE", random_seed=cfg.seed,
                              thread_count=cfg.threads, verbose=0, allow_writing_files=False,
                              cat_features=list(features.RECORD_CATEGORICAL))
    model.fit(baseline_input(frame), features.target(frame))
    return model


def evaluate(predictor: Predictor, frame: pd.DataFrame,
             baseline: CatBoostRegressor | None) -> tuple[dict[str, Any], str]:
    """Metrics of the model (and the baseline) on held-out rows, and the printed tables."""
    pred = predictor.predict(frame[[c for c in NAMES if c != "price"]])
    ok = pred["error"].isna().to_numpy()
    held = frame[ok].reset_index(drop=True)
    report = accuracy.segment_report(held, pred["value"].to_numpy(float)[ok],
                                    pred["value_low"].to_numpy(float)[ok],
                                    pred["value_high"].to_numpy(float)[ok])
    text = [accuracy.format_report(f"model on {len(held):,} held-out rows", report)]
    levels = {}
    for level in ("high", "medium", "low"):
        mask = (pred["confidence_level"].to_numpy()[ok] == level)
        if mask.any():
            levels[level] = accuracy.accuracy(held["price"].to_numpy()[mask],
                                             pred["value"].to_numpy(float)[ok][mask])
    text.append("by confidence level: " + ", ".join(
        f"{k} n={int(v['n']):,} MdAPE={v['mdape']:.2f}%" for k, v in levels.items()))
    result: dict[str, Any] = {"model": report, "by_confidence": levels}
    if baseline is not None:
        base_value = np.exp(baseline.predict(baseline_input(held)))
        base = accuracy.segment_report(held, base_value)
        result["baseline"] = base
        text.append(accuracy.format_report("plain CatBoost baseline, same rows", base))
        gain = 1 - report["overall"]["mdape"] / base["overall"]["mdape"]
        result["mdape_gain_vs_baseline"] = gain
        text.append(f"MdAPE {report['overall']['mdape']:.2f}% vs baseline "
                    f"{base['overall']['mdape']:.2f}%: {gain:+.1%} relative gain")
    return result, "\n\n".join(text)


def train(cfg: TrainConfig, registry: Registry, echo: Echo, progress: Progress,
          promote: bool = False) -> TrainResult:
    """The whole `valuation train` run."""
    started = time.perf_counter()
    frame, counts = load_training_frame(cfg.data, echo)
    held_mask = split_eval(frame, cfg)
    train_rows, held = frame[~held_mask].reset_index(drop=True), frame[held_mask].reset_index(
        drop=True)
    if len(train_rows) < MIN_TRAIN_ROWS:
        raise DataError(f"only {len(train_rows)} training rows; need at least {MIN_TRAIN_ROWS}")
    echo(f"training on {len(train_rows):,} rows, holding out {len(held):,} "
         f"({'time' if cfg.eval_from or cfg.eval_split == 'time' else 'random'} split)")
    predictor = fit(train_rows, cfg, progress)
    train_seconds = time.perf_counter() - started
    evaluation: dict[str, Any] = {}
    report = "no held-out rows (--eval-fraction 0): nothing to evaluate"
    if len(held):
        baseline = fit_baseline(train_rows, cfg) if cfg.baseline else None
        evaluation, report = evaluate(predictor, held, baseline)
    card = make_card(cfg, predictor, counts, len(train_rows), len(held), evaluation,
                     train_seconds)
    version = registry.save(cfg.name, predictor.save, card)
    if promote:
        registry.promote(cfg.name, version)
    return TrainResult(version=version, card=registry.card(cfg.name, version), report=report)


def make_card(cfg: TrainConfig, predictor: Predictor, counts: dict[str, int], n_train: int,
              n_eval: int, evaluation: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The model card: what it is, what it learned from, how good it is."""
    config = {k: (str(v) if isinstance(v, (Path, dt.date)) else v)
              for k, v in asdict(cfg).items()}
    return {
        "contract_version": features.CONTRACT_VERSION,
        "features": list(features.FEATURES),
        "categorical": list(features.CATEGORICAL),
        "monotone": dict(features.MONOTONE),
        "currency": cfg.currency,
        "synthetic": cfg.synthetic,
        "intended_use": ("DEMO ONLY: trained on a synthetic market, not for lending"
                         if cfg.synthetic else "valuation of vehicles like the training data"),
        "notes": cfg.notes,
        "target": predictor.card["target"],
        "point": predictor.card["point"],
        "recency": predictor.card["recency"],
        "calibration": predictor.card["calibration"],
        "priors": predictor.card["priors"],
        "params": {"iterations": cfg.iterations, "learning_rate": cfg.learning_rate,
                   "depth": predictor.card["point"]["depth"],
                   "loss": f"{predictor.card['point']['loss']} (point), Quantile "
                   f"{(1 - cfg.coverage) / 2:g} / {(1 + cfg.coverage) / 2:g} (range)",
                   "seed": cfg.seed, "float_borders": FLOAT_BORDERS,
                   "ctr_target_borders": predictor.point.get_params().get(
                       "ctr_target_border_count", 1)},
        "config": config,
        "data": {"file": str(cfg.data), "hash": file_hash(cfg.data), "rows": counts,
                 "train_rows": n_train, "eval_rows": n_eval,
                 "valuation_dates": predictor.profile["valuation_dates"]},
        "metrics": evaluation,
        "libraries": {"catboost": catboost.__version__, "pandas": pd.__version__,
                      "numpy": np.__version__, "python": platform.python_version()},
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "training_seconds": round(seconds, 1),
    }
