"""The single-car fast path changes nothing: the same validation verdicts as the vectorised
path on generated good and bad records, the same model outputs, the same valuation bodies."""
import datetime as dt
import math
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoostRegressor, Pool

from valuation.model import explain, features, priors
from valuation.model.predictor import HIGH_FILE, LOW_FILE, POINT_FILE, Predictor
from valuation.model.record import FIELDS, NAMES, validate_frame, validate_record
from valuation.model.registry import Registry
from valuation.services.valuations import value_car, value_cars

TODAY = dt.date(2029, 12, 31)  # after every demo-market sale; "2030-01-01" is in the future
BAD_TOKENS = ["", " ", "nan", "NaN", "1_000", "0x10", "abc", "inf", "-5", "1e400", "12.5",
              "2021-02-30", "1500-01-01", "2262-01-01", "2024-02-29", "١٢٣٤-٠١-٠١", "2030-01-01",
              "2021-13", "21-06-01", "maybe", "Yes", "TRUE", " 0 ", "+7", ".5", "5.", True, False,
              -1, 10**9, 3.7, None]


def records(market: pd.DataFrame, n: int, seed: int, corrupt: bool) -> list[dict]:
    """Cars from the demo market, some fields dropped, and (when `corrupt`) one to three
    fields replaced by awkward tokens."""
    rng = np.random.default_rng(seed)
    names = [f.name for f in FIELDS if f.name != "price"]
    out = []
    for row in market.drop(columns=["price"]).sample(n, random_state=seed).to_dict("records"):
        car = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for name in rng.choice(names, rng.integers(0, 6), replace=False):
            if name not in ("brand", "series", "energy_type", "first_registration", "mileage_km"):
                car.pop(name, None)
        if corrupt:
            for name in rng.choice(names, rng.integers(1, 4), replace=False):
                car[name] = BAD_TOKENS[rng.integers(len(BAD_TOKENS))]
        out.append(car)
    return out


@pytest.mark.parametrize("corrupt", [False, True])
def test_single_and_vectorised_validation_agree(market, corrupt) -> None:
    cars = records(market, 1_500, seed=5 if corrupt else 6, corrupt=corrupt)
    checked = validate_frame(pd.DataFrame(cars), training=False, today=TODAY)
    invalid = 0
    for i, car in enumerate(cars):
        typed, reasons = validate_record(car, TODAY)
        assert reasons == checked.reasons[i], (car, reasons, checked.reasons[i])
        invalid += bool(reasons)
        if reasons:
            continue
        for field in FIELDS:
            expected = checked.frame[field.name][i]
            got = typed[field.name]
            if pd.isna(expected):
                assert got is None, (field.name, car)
            elif field.kind == "date":
                assert got == expected.date()
            else:
                assert got == expected, (field.name, got, expected)
    if corrupt:
        assert invalid > 500  # the corruptions did produce bad rows to compare
    else:
        assert invalid < 50


def test_raw_predict_equals_catboost_predict(trained: Predictor, market) -> None:
    frame = pd.DataFrame(records(market, 2_000, seed=7, corrupt=False))
    derived, errors, _, _ = trained.prepare(frame, TODAY)
    ok = (errors == "").to_numpy()
    x = features.model_input(derived[ok], trained.neutral)
    rows = x.astype(object).where(x.notna(), math.nan).to_numpy().tolist()
    frame_pool = Pool(x, cat_features=list(trained.point.get_cat_feature_indices()))
    for model in (trained.point, trained.low, trained.high):
        assert np.array_equal(trained.raw_predict(model, trained.pool(rows)), model.predict(x))
        # the batch path: one pool of the frame, every core
        assert np.array_equal(trained.raw_predict(model, frame_pool, -1), model.predict(x))


def test_the_categorical_model_input_predicts_as_text_columns(trained: Predictor, market
                                                               ) -> None:
    """`model_input` hands CatBoost pandas categoricals (a pool in a fifth of the time); the
    texts are the same, so every prediction is the same as from text columns."""
    frame = pd.DataFrame(records(market, 2_000, seed=5, corrupt=False))
    derived, errors, _, _ = trained.prepare(frame, TODAY)
    x = features.model_input(derived[(errors == "").to_numpy()], trained.neutral)
    assert len(x) > 1_500
    assert all(isinstance(x[c].dtype, pd.CategoricalDtype) for c in features.CATEGORICAL)
    text = x.astype({c: str for c in features.CATEGORICAL})
    assert (text["variant_year"] == features.MISSING_CATEGORY).any()  # missing values included
    for model in (trained.point, trained.low, trained.high):
        assert np.array_equal(model.predict(x), model.predict(text))


def test_the_serving_copy_predicts_as_the_model_on_disk(trained: Predictor, model_root,
                                                        market) -> None:
    """The served models lack the stored training parameters (CatBoost re-reads them on every
    call); the trees are the same, so every prediction is too."""
    frame = pd.DataFrame(records(market, 3_000, seed=11, corrupt=False))
    derived, errors, _, _ = trained.prepare(frame, TODAY)
    x = features.model_input(derived[(errors == "").to_numpy()], trained.neutral)
    assert len(x) > 2_500
    folder, _ = Registry(model_root).load("tiny")
    for served, filename in ((trained.point, POINT_FILE), (trained.low, LOW_FILE),
                             (trained.high, HIGH_FILE)):
        assert "params" not in served.get_metadata()
        on_disk = CatBoostRegressor()
        on_disk.load_model(str(folder / filename))
        assert "params" in on_disk.get_metadata()
        assert np.array_equal(served.predict(x), on_disk.predict(x))


def test_single_car_bodies_equal_the_batch_bodies(trained: Predictor, market, monkeypatch
                                                  ) -> None:
    rows_valued = []  # the rows each car's model pool holds: fewer than 11 where a stage repeats
    pool = trained.pool
    monkeypatch.setattr(trained, "pool", lambda rows: rows_valued.append(len(rows)) or pool(rows))
    cars = records(market, 2_000, seed=8, corrupt=False)
    cars += [dict(cars[0], flood_damage=True, accident="structural", transfer_count=4,
                  usage="ride_hailing"),
             dict(cars[1], first_registration="2021-03-31", battery_soh_pct=71.5,
                  energy_type="bev"),
             dict(cars[2], brand="无名", series="无名", new_price=None),
             dict(cars[3], new_price=(cars[3]["new_price"] or 100_000) * 10),  # an extra zero
             dict(cars[4], new_price=(cars[4]["new_price"] or 100_000) / 3)]
    batch = value_cars(trained, pd.DataFrame(cars), today=TODAY)
    errors = 0
    for car, expected in zip(cars, batch, strict=True):
        got = value_car(trained, car, today=TODAY)
        if "error" in expected:
            errors += 1
            assert got == expected
            continue
        assert got == expected, (car, got, expected)
    assert errors < len(cars) // 10
    stages_and_later = len(explain.GROUPS) + 1 + len(explain.RESIDUAL_MONTHS)
    assert min(rows_valued) < stages_and_later  # both kinds of car were compared
    assert sum(n == stages_and_later for n in rows_valued) >= 20  # 50 of the 2,005


def test_a_stage_that_changes_nothing_is_valued_once(trained: Predictor, monkeypatch) -> None:
    """A car that gives no condition shares the reference's typical condition: its condition,
    damage, battery, transfer, region and colour stages are the mileage stage again: the model
    sees 2 stages and the 3 residual rows instead of 8 and 3. A petrol car with every condition
    given repeats only the battery stage. Either body is the batch path's."""
    sparse = {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol", "new_price": 200000,
              "first_registration": "2021-06-01", "mileage_km": 45000, "usage": "private"}
    full = dict(sparse, condition_score=85, accident="minor", transfer_count=2, region="上海",
                color="white", usage="ride_hailing")
    rows_valued = []
    pool = trained.pool
    monkeypatch.setattr(trained, "pool", lambda rows: rows_valued.append(len(rows)) or pool(rows))
    got = [value_car(trained, car, today=TODAY) for car in (sparse, full)]
    assert rows_valued == [2 + 3, 7 + 3]
    assert got == value_cars(trained, pd.DataFrame([sparse, full]), today=TODAY)
    amounts = {a["factor"]: a["amount"] for a in got[0]["breakdown"]["adjustments"]}
    assert [factor for factor, amount in amounts.items() if amount != 0] == ["mileage"]


def test_the_batch_values_a_repeated_stage_once_and_as_every_row(trained: Predictor, market
                                                                 ) -> None:
    """The batch path leaves out a breakdown stage that repeats the row before it; the rows it
    keeps, spread back by `where`, are every stage and residual row built in full (the
    reference, then one group at a time, then the later cars), and the model values them the
    same as the full frame."""
    cars = pd.DataFrame(records(market, 400, seed=5, corrupt=False))
    _, completed = trained.predict_with_rows(cars, today=TODAY)
    rows = completed[[c for c in NAMES if c != "price"]].reset_index(drop=True)
    km_year = float(trained.profile["median_km_per_year"])
    built, where = explain.counterfactual_rows(rows, trained.profile["defaults"], km_year)

    typical = explain.with_typical_categories(rows)
    stages = [explain.reference(typical, trained.profile["defaults"], km_year)]
    for _, fields in explain.GROUPS[:-1]:
        stages.append(stages[-1].copy())
        for field in fields:
            stages[-1][field] = typical[field]
    full = pd.concat(stages + _later_cars(typical, km_year), ignore_index=True)

    assert len(where) == len(full) == 10 * len(rows)
    assert len(built) < 0.9 * len(full)  # repeats were left out
    pd.testing.assert_frame_equal(built.iloc[where].reset_index(drop=True), full)
    assert np.array_equal(trained.point_values(built)[where], trained.point_values(full))


def _later_cars(cars: pd.DataFrame, km_per_year: float) -> list[pd.DataFrame]:
    """The residual forecast's cars written out one horizon at a time: each car registered
    `months` earlier, having driven `km_per_year` more a year (at most 1,999,999 km), its SOH
    lower by what the typical pack loses over that age and mileage."""
    frames = []
    for months in explain.RESIDUAL_MONTHS:
        later = cars.copy()
        later["first_registration"] = cars["first_registration"] - pd.DateOffset(months=months)
        later["mileage_km"] = (cars["mileage_km"] + km_per_year * months / 12).clip(upper=1_999_999)
        age = (later["valuation_date"] - later["first_registration"]).dt.days / 30.4375
        drop = priors.expected_soh(age - months, cars["mileage_km"]) - priors.expected_soh(
            age, later["mileage_km"])
        later["battery_soh_pct"] = cars["battery_soh_pct"] - drop
        frames.append(later)
    return frames


def _thread_cpu_ticks() -> dict[str, int]:
    """CPU time (user + system clock ticks) of each thread of this process, from /proc."""
    ticks = {}
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rpartition(")")[2].split()
        ticks[task.name] = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_a_single_valuation_keeps_to_its_own_thread(trained: Predictor, market) -> None:
    """No thread of CatBoost's pool spins beside a single valuation (with the pool built on
    every core, one did, for about as long as the valuation took)."""
    car = records(market, 1, seed=8, corrupt=False)[0]
    value_car(trained, car, TODAY)
    main = str(threading.get_native_id())
    before = _thread_cpu_ticks()
    for _ in range(500):
        value_car(trained, car, TODAY)
    after = _thread_cpu_ticks()
    spent = {t: after[t] - before.get(t, 0) for t in after}
    others = sum(ticks for t, ticks in spent.items() if t != main)
    assert spent[main] >= 10  # measurable: 100 ms or more of the main thread (about 180)
    assert others <= 0.25 * spent[main], spent  # about as much as the main thread before
