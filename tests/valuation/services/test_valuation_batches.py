"""A batch below SINGLE_PATH_BELOW rows is checked and valued one car at a time, a larger one
by the vectorised path: the same answers either way, bad rows included, on one valuation
date."""
from __future__ import annotations

import json

import pandas as pd

from tests.valuation.model.test_single import TODAY, records
from valuation import clock
from valuation.services import valuations
from valuation.services.csv_text import text_frame
from valuation.services.keys import Principal

DEALER = Principal("shop", "dealer", "p1", "D1")


def _answers(results: list[dict]) -> list[dict]:
    """The results without what differs between two calls (the id and the time stored)."""
    return [{k: v for k, v in r.items() if k not in ("id", "created_at")} for r in results]


def test_a_small_batch_answers_as_the_vectorised_path(trained, market, monkeypatch) -> None:
    monkeypatch.setattr(clock, "today", lambda at=None: TODAY)
    calls = []
    vectorised = valuations.value_cars

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(args[1]))
        return vectorised(*args, **kwargs)

    monkeypatch.setattr(valuations, "value_cars", counted)
    n = valuations.SINGLE_PATH_BELOW
    cars = records(market, n, seed=3, corrupt=False)[: n - 10] + records(market, 10, seed=4,
                                                                         corrupt=True)
    for car in cars:
        car.pop("valuation_date", None)  # valued today, the patched business date
    edge_errors = {2: {"mileage_km": ["Not a valid number."]}}  # refused at the edge
    small = 20
    many, _ = valuations.value_batch(trained, DEALER, cars + cars[:small], edge_errors)
    assert calls == [n + small - 1]  # the vectorised path, once, without the refused row
    few, stored_few = valuations.value_batch(trained, DEALER, cars[:small], edge_errors)
    assert calls == [n + small - 1]  # not again: one car at a time
    assert _answers(few) == _answers(many[:small])
    assert few[2] == {"row": 2, "errors": edge_errors[2]}
    assert len(stored_few) == sum("errors" not in r for r in few) > small // 2
    for row, result in zip(stored_few, (r for r in few if "errors" not in r), strict=True):
        assert json.loads(row["response_json"]) == {k: v for k, v in result.items() if k != "row"}
        assert result["valuation_date"] == str(TODAY)
    bad = valuations.value_batch(trained, DEALER, cars[n - 10:], {})[0]
    assert any("errors" in r for r in bad)  # the corrupted rows: refused on the single path too
    assert _answers(bad) == _answers([{**r, "row": r["row"] - (n - 10)}
                                      for r in many[n - 10:n]])
    assert valuations.value_batch(trained, DEALER, []) == ([], [])


def test_a_small_csv_is_checked_as_a_large_one(market, monkeypatch) -> None:
    monkeypatch.setattr(clock, "today", lambda at=None: TODAY)
    n = valuations.SINGLE_PATH_BELOW
    cars = pd.DataFrame(records(market, n, seed=12, corrupt=True))
    frame = text_frame(cars.to_csv(index=False).encode())
    rows_many, bad_many = valuations.rows_of_csv(frame)
    rows_few, bad_few = valuations.rows_of_csv(frame.iloc[:20])
    assert rows_few == rows_many[:20]
    assert bad_few == {i: errors for i, errors in bad_many.items() if i < 20}
    assert 3 <= len(bad_few) < 20  # some rows refused, with the frame path's messages


def test_the_text_storage_changes_no_answer(trained, market, monkeypatch) -> None:
    """`valuation.model` stores pandas' text columns as Python strings (for speed, not pyarrow):
    a JSON batch and a CSV upload get the same answers, to the byte, under either storage."""
    monkeypatch.setattr(clock, "today", lambda at=None: TODAY)
    assert pd.get_option("mode.string_storage") == "python"
    cars = records(market, 200, seed=21, corrupt=False) + records(market, 60, seed=22,
                                                                  corrupt=True)
    for car in cars:
        car.pop("valuation_date", None)
    upload = pd.DataFrame(cars).to_csv(index=False).encode()

    def answers() -> tuple[str, dict]:
        results, _ = valuations.value_batch(trained, DEALER, cars)
        rows, bad = valuations.rows_of_csv(text_frame(upload))
        return json.dumps(_answers(results), sort_keys=True, ensure_ascii=False), bad

    python = answers()
    with pd.option_context("mode.string_storage", "pyarrow"):
        arrow = answers()
    assert python == arrow
    assert 10 < python[0].count('"errors"') < 60 and python[1]  # bad rows on both paths
