"""The JSON batch `make bench` posts for target 4 (benchmarks/inprocess.py): every car in it is
one the endpoint values, so the figure is of valued rows, not of refused ones; and its raw
reference predicts the same cars with each of the three models."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd


def test_the_benchmark_batch_is_valued_whole_by_the_endpoint(client, keys, benchmark_module
                                                             ) -> None:  # type: ignore[no-untyped-def]
    inprocess = benchmark_module("inprocess")
    frame = inprocess.demo_cars(80)  # above SINGLE_PATH_BELOW: the vectorised path
    body = json.loads(inprocess.batch_body(frame))
    assert len(body["vehicles"]) == 80
    assert body["vehicles"][0]["battery_kwh"] is None  # NaN is sent as null
    response = client.post("/v1/valuations/batch", json=body, headers=keys["dealer"])
    assert response.status_code == 200
    assert (response.json["valued"], response.json["failed"]) == (80, 0)


def test_the_raw_reference_predicts_the_batchs_cars_with_three_models(
        trained, benchmark_module, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    inprocess = benchmark_module("inprocess")
    frame = inprocess.demo_cars(30)
    called = []
    for name in ("point", "low", "high"):
        model = getattr(trained, name)
        monkeypatch.setattr(model, "predict", lambda x, model=model, name=name: called.append(
            (name, x)) or type(model).predict(model, x))
    inprocess.raw_three_models(trained, frame)()
    assert [name for name, _ in called] == ["point", "low", "high"]
    x = called[0][1]
    assert len(x) == 30  # the categorical columns as text, not as pandas categoricals
    assert not any(isinstance(x[c].dtype, pd.CategoricalDtype) for c in ("brand", "series"))
    assert x["brand"].tolist() == frame["brand"].tolist()
    assert np.isfinite(type(trained.point).predict(trained.point, x)).all()
