"""In-process timings, each against the raw library call on the same machine in the same run:
one valuation vs one CatBoost predict, batch valuation vs raw three-model prediction, one
decision, and decisions over a frame."""
from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable
from decimal import Decimal

import pandas as pd

from strategies.document import default_strategy
from strategies.engine import Application, ValuationInput, decide
from strategies.frame import decide_frame
from valuation.model import demo_market, features
from valuation.model.predictor import Predictor
from valuation.services.keys import Principal
from valuation.services.valuations import value_batch, value_car, value_cars

CAR = {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol", "new_price": 200000,
       "first_registration": "2021-06-01", "mileage_km": 45000, "usage": "private"}


def median_seconds(call: Callable[[], object], repeat: int, number: int = 1) -> float:
    """The median over `repeat` runs of the time of `number` calls, per call."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            call()
        times.append((time.perf_counter() - started) / number)
    return statistics.median(times)


def interleaved(ours: Callable[[], object], raw: Callable[[], object], repeat: int,
                number: int = 1) -> tuple[float, float]:
    """Median seconds of both, measured alternately so that the machine's noise hits both."""
    a, b = [], []
    for _ in range(repeat):
        a.append(median_seconds(ours, 1, number))
        b.append(median_seconds(raw, 1, number))
    return statistics.median(a), statistics.median(b)


def one_valuation(predictor: Predictor, repeat: int = 300) -> dict[str, float]:
    """Target 1: value, range, confidence, breakdown and residuals of one car vs one raw
    `predict` of the point model on the same car's 1-row model input."""
    derived, _, _, _ = predictor.prepare(pd.DataFrame([CAR]))
    x = features.model_input(derived, predictor.neutral)
    value_car(predictor, CAR)
    ours, raw = interleaved(lambda: value_car(predictor, CAR), lambda: predictor.point.predict(x),
                            repeat)
    return {"ours_ms": ours * 1e3, "raw_ms": raw * 1e3, "ratio": ours / raw}


def demo_cars(rows: int) -> pd.DataFrame:
    """`rows` generated demo cars as a caller sends them (no price, no valuation date)."""
    return demo_market.generate(rows, seed=9).drop(columns=["price", "valuation_date"])


def raw_three_models(predictor: Predictor, frame: pd.DataFrame, as_text: bool = True,
                     text_storage: str | None = None) -> Callable[[], None]:
    """The reference of target 4: CatBoost's `predict` of the point, P10 and P90 models on the
    model's columns of `frame`'s cars, the categorical ones as text, as they are trained and as
    a caller holds them (`as_text=False`: as pandas categoricals, as our own path hands them to
    CatBoost, which reads them several times faster). The text is stored as this process stores
    text (Python strings, `valuation.model` sets it), or by `text_storage` ("pyarrow": pandas'
    default, which CatBoost reads about 1.5 times slower)."""
    derived, _, _, _ = predictor.prepare(frame)
    x = features.model_input(derived, predictor.neutral)
    if as_text:
        with pd.option_context("mode.string_storage",
                               text_storage or pd.get_option("mode.string_storage")):
            x = x.astype({name: str for name in features.CATEGORICAL})

    def call() -> None:
        for model in (predictor.point, predictor.low, predictor.high):
            model.predict(x)
    return call


def batch(predictor: Predictor, rows: int = 5_000, repeat: int = 7) -> dict[str, float]:
    """Target 4 (in process): `valuation predict` (value, range, confidence) and the batch
    body with breakdown and residuals, vs raw point + P10 + P90 prediction of the same rows."""
    frame = demo_cars(rows)
    raw = raw_three_models(predictor, frame)
    predict, raw_s = interleaved(lambda: predictor.predict(frame), raw, repeat)
    raw_categorical = median_seconds(raw_three_models(predictor, frame, as_text=False), repeat)
    raw_pyarrow = median_seconds(raw_three_models(predictor, frame, text_storage="pyarrow"),
                                 repeat)
    # measured alternately with the raw call too: a share of two timings taken minutes apart
    # on this shared host moved by 15 % between runs
    bodies, raw_bodies = interleaved(lambda: value_cars(predictor, frame), raw, repeat)
    return {"raw_rows_per_s": rows / raw_s, "predict_rows_per_s": rows / predict,
            "predict_share": raw_s / predict, "bodies_rows_per_s": rows / bodies,
            "bodies_share": raw_bodies / bodies, "raw_bodies_rows_per_s": rows / raw_bodies,
            "raw_categorical_rows_per_s": rows / raw_categorical,
            "predict_share_of_raw_categorical": raw_categorical / predict,
            "raw_pyarrow_text_rows_per_s": rows / raw_pyarrow}


def batch_body(frame: pd.DataFrame) -> bytes:
    """`POST /v1/valuations/batch`'s JSON body for `frame`'s cars (missing values null)."""
    return b'{"vehicles":' + frame.to_json(orient="records", force_ascii=False).encode() + b"}"


def small_batch(predictor: Predictor, cars: int = 20, repeat: int = 30) -> dict[str, float]:
    """Target 4 (reported): the service's batch call for a dealer's few cars (stored rows
    built, nothing written), against one valuation of one car in the same run."""
    frame = demo_cars(cars)
    requests = [{k: (None if v != v else v) for k, v in row.items()}
                for row in frame.astype(object).to_dict("records")]
    who = Principal("bench", "dealer", "bench", "D1")
    value_batch(predictor, who, requests)
    batch_s, one_s = interleaved(lambda: value_batch(predictor, who, requests),
                                 lambda: value_car(predictor, CAR), repeat)
    return {"cars": cars, "batch_ms": batch_s * 1e3, "per_car_ms": batch_s / cars * 1e3,
            "one_ms": one_s * 1e3, "per_car_over_one": batch_s / cars / one_s}


APPLICATION = Application(
    application_id="b1", declared_price=100_000, down_payment=30_000, term_months=36,
    annual_rate=Decimal("0.05"), is_new=False, energy_type="petrol", usage="private",
    first_registration=dt.date(2020, 1, 1), mileage_km=50_000, flood_damage=False,
    fire_damage=False, monthly_income=20_000, monthly_debt_payments=0,
    decision_date=dt.date(2025, 1, 1), customer_score=700, customer_tier=None,
    dealer_tier="T1")


def decisions(frame: pd.DataFrame) -> dict[str, float]:
    """Target 6: one `decide` and `decide_frame` over the simulation benchmark's frame."""
    strategy = default_strategy()
    value = ValuationInput(100_000, "high")
    one = median_seconds(lambda: decide(APPLICATION, value, strategy), 15, 2_000)
    many = median_seconds(lambda: decide_frame(frame, strategy), 5)
    return {"decide_us": one * 1e6, "decide_frame_rows_per_s": len(frame) / many}
