"""Training on the synthetic market: ranges, monotonicity, priors, baseline, card."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from valuation.model import priors
from valuation.model.predictor import Predictor
from valuation.model.registry import Registry
from valuation.model.training import TrainConfig, regressor, split_eval, train


def cars(market: pd.DataFrame, n: int = 40) -> pd.DataFrame:
    return market.drop(columns=["price"]).sample(n, random_state=1).reset_index(drop=True)


def test_card_records_data_metrics_and_versions(trained: Predictor, market_csv: Path) -> None:
    card = trained.card
    assert card["name"] == "tiny" and card["version"] == "1"
    assert card["data"]["rows"]["read"] == 3_000
    assert card["data"]["hash"].startswith("sha256:")
    assert card["target"]["mode"] == "retention"  # every synthetic row has a guide price
    assert card["calibration"]["method"].startswith("conformalized")
    assert card["libraries"]["catboost"]
    # 3,000 rows: below the 10,000 from which a squared-error model gets five CTR borders
    assert (card["params"]["float_borders"], card["params"]["ctr_target_borders"]) == (128, 1)
    assert card["training_seconds"] > 0
    overall = card["metrics"]["model"]["overall"]
    assert overall["n"] == card["data"]["eval_rows"] > 500
    # a tiny model on a clean synthetic market: measured MdAPE about 5-6 %
    assert overall["mdape"] < 9.0
    # the calibrated P10-P90 range covers about 80 % of held-out prices
    assert 70.0 <= overall["coverage"] <= 90.0
    assert "overall" in card["metrics"]["baseline"]
    assert set(card["metrics"]["model"]) >= {"overall", "ICE", "NEV"}


@pytest.mark.parametrize("column, grid", [
    ("mileage_km", np.linspace(0, 300_000, 31)),
    ("first_registration", pd.date_range("2014-01-01", "2024-01-01", freq="6MS")[::-1]),
])
def test_value_never_rises_with_mileage_or_age(trained: Predictor, market: pd.DataFrame,
                                               column: str, grid) -> None:
    base = cars(market, 25)
    base["valuation_date"] = "2024-06-30"
    base["first_registration"] = "2014-01-01"
    base["mileage_km"] = 60_000
    rows = base.loc[base.index.repeat(len(grid))].reset_index(drop=True)
    rows[column] = np.tile(np.asarray(grid).astype(str) if column != "mileage_km" else grid,
                           len(base))
    if column == "first_registration":
        rows[column] = rows[column].str.slice(0, 10)
    out = trained.predict(rows)
    assert out["error"].isna().all()
    for col in ("value", "value_low", "value_high"):
        values = out[col].to_numpy().reshape(len(base), len(grid))
        steps = np.diff(values, axis=1)
        assert (steps <= 1e-6 * values[:, 1:]).all(), f"{col} rises with {column}"


def test_range_brackets_value(trained: Predictor, market: pd.DataFrame) -> None:
    out = trained.predict(cars(market))
    assert (out["value_low"] <= out["value"]).all() and (out["value"] <= out["value_high"]).all()
    assert out["confidence"].between(0, 1).all()


def test_priors_are_learned_when_the_data_varies(trained: Predictor) -> None:
    plan = trained.card["priors"]
    assert not plan["accident"]["applied"] and not plan["usage"]["applied"]
    assert not plan["battery_soh_pct"]["applied"]


def test_priors_apply_where_data_is_silent(tmp_path: Path, market: pd.DataFrame, tiny) -> None:
    silent = market.assign(accident=None, flood_damage=None, fire_damage=None,
                           battery_soh_pct=None)
    path = tmp_path / "silent.csv"
    silent.to_csv(path, index=False)
    result = train(tiny(path, name="silent", iterations=60), Registry(tmp_path / "reg"),
                   lambda s: None, lambda *a: None)
    plan = result.card["priors"]
    assert plan["flood_damage"]["applied"] and plan["accident"]["applied"]
    assert plan["battery_soh_pct"]["applied"] and not plan["usage"]["applied"]
    predictor = Predictor.load(Registry(tmp_path / "reg"), f"silent:{result.version}")
    car = cars(market, 1).assign(accident="none", flood_damage=False, fire_damage=False,
                                 battery_soh_pct=None)
    flooded = car.assign(flood_damage=True, accident="structural")
    both = predictor.predict(pd.concat([car, flooded], ignore_index=True))
    # flood x0.70 and structural accident x0.80: exactly 0.56 of the clean value
    assert both["value"][1] / both["value"][0] == pytest.approx(0.56)
    assert both["prior_flood_damage"][1] == 0.70
    assert any("flood_damage: prior adjustment applied" in w for w in both["warnings"][1])
    assert both["confidence"][1] < both["confidence"][0]


def test_soh_prior_follows_the_rule_of_thumb() -> None:
    frame = pd.DataFrame({"battery_soh_pct": [95.0, 85.0, 99.0, None],
                          "age_months": [24.0, 24.0, 24.0, 24.0],
                          "mileage_km": [50_000.0] * 4, "is_nev": [1.0, 1.0, 0.0, 1.0]})
    plan = {"battery_soh_pct": {"applied": True}}
    f = priors.factors(frame, plan)["battery_soh_pct"].tolist()
    # expected SOH = 100 - 1.8 x 2 - 1 = 95.4
    assert f[0] == pytest.approx(1 + 0.005 * (95 - 95.4))
    assert f[1] == pytest.approx(1 + 0.005 * (85 - 95.4))
    assert f[2] == 1.0 and f[3] == 1.0  # not an NEV; no SOH given


def test_time_split_holds_out_the_latest_rows(market: pd.DataFrame) -> None:
    from valuation.model import features
    from valuation.model.record import validate_frame
    from valuation.model.training import TrainConfig
    frame = features.derive(validate_frame(market, training=True).frame)
    cfg = TrainConfig(data=Path("x"), name="x", eval_split="time", eval_fraction=0.25)
    held = split_eval(frame, cfg)
    assert held.mean() == pytest.approx(0.25, abs=0.03)
    assert frame["valuation_date"][held].min() >= frame["valuation_date"][~held].max()


def test_eval_fraction_zero_trains_on_every_row(tmp_path: Path, market_csv: Path, tiny) -> None:
    result = train(tiny(market_csv, name="all", iterations=40, eval_fraction=0.0),
                   Registry(tmp_path), lambda s: None, lambda *a: None)
    assert result.card["data"]["eval_rows"] == 0
    assert result.card["data"]["train_rows"] == result.card["data"]["rows"]["valid"]
    assert result.card["calibration"]["rows"] > 300
    assert "nothing to evaluate" in result.report


def test_finer_target_statistics_only_for_squared_error_on_enough_rows() -> None:
    cfg = TrainConfig(data=Path("x.csv"), name="x")
    assert regressor(cfg, "RMSE", 20_000).get_params()["ctr_target_border_count"] == 5
    for loss, rows in (("RMSE", 9_999), ("Quantile:alpha=0.45", 20_000)):
        assert "ctr_target_border_count" not in regressor(cfg, loss, rows).get_params()
    params = regressor(cfg, "RMSE", 20_000).get_params()
    assert params["max_ctr_complexity"] == 1 and params["border_count"] == 128


def test_model_selection_sees_only_training_rows(tmp_path: Path, market: pd.DataFrame, tiny,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Choosing the point model's loss and depth receives training rows only: every row of
    the held-out split is identifiable by its mileage, and none reaches the selection."""
    from valuation.model import training

    data = market.assign(mileage_km=10_000 + np.arange(len(market)) * 3.0)
    path = tmp_path / "marked.csv"
    data.to_csv(path, index=False)
    cfg = tiny(path, name="marked", depth=0, iterations=60)
    frame, _ = training.load_training_frame(path, lambda s: None)
    held = set(frame.loc[split_eval(frame, cfg), "mileage_km"])
    seen: list[pd.DataFrame] = []
    seen_recency: list[pd.DataFrame] = []
    choose, choose_recency = training.choose_point_model, training.choose_half_life

    def spy(x, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(x)
        return choose(x, *args, **kwargs)

    def spy_recency(x, y, cal, frame, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen_recency.append(frame)
        return choose_recency(x, y, cal, frame, *args, **kwargs)

    monkeypatch.setattr(training, "choose_point_model", spy)
    monkeypatch.setattr(training, "choose_half_life", spy_recency)
    result = train(cfg, Registry(tmp_path / "reg"), lambda s: None, lambda *a: None)
    assert len(seen) == 1 and len(held) > 400
    assert held.isdisjoint(seen[0]["mileage_km"])
    assert len(seen[0]) == result.card["data"]["train_rows"]
    point = result.card["point"]
    # both losses at both depths were scored, and the card names the choice
    assert len(point["selection"]) == 4 and point["depth"] in training.DEPTH_CHOICES
    assert result.card["params"]["depth"] == point["depth"]
    # the recency half-life too: training rows only, both candidates scored, the choice named
    assert len(seen_recency) == 1 and held.isdisjoint(seen_recency[0]["mileage_km"])
    recency = result.card["recency"]
    assert set(recency["selection"]) == {"half-life 12 months", "half-life 24 months"}
    assert recency["half_life_months"] in training.HALF_LIFE_CHOICES


def test_a_set_half_life_or_a_one_month_market_is_not_tried(
        market: pd.DataFrame, tiny, tmp_path: Path) -> None:
    set_path, one_month = tmp_path / "set.csv", tmp_path / "one-month.csv"
    market.to_csv(set_path, index=False)
    market.assign(valuation_date="2024-05-10").to_csv(one_month, index=False)
    fixed = train(tiny(set_path, name="fixed", iterations=40, recency_half_life_months=0.0),
                  Registry(tmp_path / "a"), lambda s: None, lambda *a: None)
    assert fixed.card["recency"] == {"half_life_months": 0.0, "selection": {}}
    snapshot = train(tiny(one_month, name="snapshot", iterations=40),
                     Registry(tmp_path / "b"), lambda s: None, lambda *a: None)
    assert snapshot.card["recency"] == {"half_life_months": 12.0, "selection": {}}


def test_a_large_market_takes_the_deepest_trees(
        market_csv: Path, tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From DEEP_ROWS fit rows on, only the loss is chosen."""
    from valuation.model import training

    monkeypatch.setattr(training, "DEEP_ROWS", 500)
    result = train(tiny(market_csv, name="large", depth=0, iterations=60),
                   Registry(tmp_path / "reg"), lambda s: None, lambda *a: None)
    point = result.card["point"]
    assert point["depth"] == max(training.DEPTH_CHOICES) == 10
    assert sorted(point["selection"]) == ["Quantile:alpha=0.5 depth 10", "RMSE depth 10"]
