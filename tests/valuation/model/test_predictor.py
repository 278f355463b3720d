"""The predictor: bad rows, unknown cars, confidence and warnings."""
import pandas as pd
import pytest

from valuation.model.predictor import Predictor
from valuation.model.training import load_training_frame, split_eval


def car(**changes: object) -> dict:
    row = {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol", "new_price": 200000,
           "first_registration": "2021-06-01", "valuation_date": "2024-06-01",
           "mileage_km": 45000, "region": "上海", "usage": "private", "accident": "none"}
    row.update(changes)
    return row


def test_bad_rows_get_an_error_and_no_value(trained: Predictor) -> None:
    out = trained.predict(pd.DataFrame([car(), car(mileage_km=-1), car(brand=""),
                                        car(first_registration="2030-01-01"),
                                        car(first_registration="not a date"),
                                        car(first_registration=None)]))
    assert out["error"].tolist()[0] is None
    assert out["value"].notna().tolist() == [True, False, False, False, False, False]
    assert out["error"][1] == "invalid mileage_km"
    assert out["error"][2] == "missing brand"
    assert out["error"][3] == "registration in the future; registration after valuation date"
    assert out["error"][4] == "invalid first_registration"
    assert out["error"][5] == "missing first_registration"


def test_unknown_series_is_valued_with_low_confidence(trained: Predictor) -> None:
    out = trained.predict(pd.DataFrame([car(), car(series="皇冠陆放"), car(brand="Lada", series="Niva")]))
    assert out["value"].notna().all()
    assert "unknown series" in out["warnings"][1]
    assert "unknown brand" in out["warnings"][2]
    assert out["confidence"][1] < out["confidence"][0]
    assert out["confidence_level"][2] == "low"


def test_missing_guide_price_is_inferred_from_the_series(trained: Predictor) -> None:
    out = trained.predict(pd.DataFrame([car(), car(new_price=None)]))
    assert out["value"][1] == pytest.approx(out["value"][0], rel=1e-9)  # series median is 200,000
    assert any("inferred" in w for w in out["warnings"][1])
    assert out["confidence"][1] < out["confidence"][0]


def test_an_unknown_car_without_guide_price_takes_its_energy_types_median(
        trained: Predictor, market_csv, tiny) -> None:
    """Every valid record gets a value: an unknown brand and series without a guide price is
    valued as if it cost the median new price of training cars of its energy type, with low
    confidence and a warning saying so."""
    frame, _ = load_training_frame(market_csv, lambda _: None)
    rows = frame[~split_eval(frame, tiny(market_csv))]
    petrol = float(rows.loc[rows["energy_type"] == "petrol", "new_price"].dropna().median())
    assert trained.profile["new_price"]["energy"]["petrol"] == round(petrol)
    out = trained.predict(pd.DataFrame([car(brand="Lada", series="Niva", new_price=None),
                                        car(brand="Lada", series="Niva", new_price=petrol)]))
    assert out["error"].isna().all()
    assert out["value"][0] == pytest.approx(out["value"][1], rel=1e-9)
    assert out["confidence_level"][0] == "low"
    assert out["confidence"][0] == pytest.approx(out["confidence"][1] * 0.3)
    assert any("median guide price of cars of its energy type" in w for w in out["warnings"][0])


def test_a_model_without_segment_medians_still_refuses_such_a_car(trained: Predictor) -> None:
    older = Predictor(point=trained.point, low=trained.low, high=trained.high, card=trained.card,
                      profile={**trained.profile, "new_price": {
                          k: v for k, v in trained.profile["new_price"].items()
                          if k in ("series", "brand")}})
    out = older.predict(pd.DataFrame([car(brand="Lada", series="Niva", new_price=None)]))
    assert "new_price is required" in out["error"][0]


def test_unusual_mileage_warns(trained: Predictor) -> None:
    out = trained.predict(pd.DataFrame([car(mileage_km=500)]))
    assert "mileage unusual for age" in out["warnings"][0]


def test_a_guide_price_far_from_its_series_halves_the_confidence(trained: Predictor) -> None:
    """The value follows the guide price (retention mode): an extra zero typed by a dealer
    gives about nine times the value, so a given price more than 2.5x above or below the
    series' median guide price in training (200,000 for this series) halves the confidence,
    says why and asks the caller to check it. Inside the band, or inferred, nothing changes.
    The reference is the same model told that the series typically costs the given price."""
    assert trained.profile["new_price"]["series"]["丰田|凯美瑞"] == 200_000

    def typical(price: float) -> Predictor:
        lookup = trained.profile["new_price"]
        return Predictor(point=trained.point, low=trained.low, high=trained.high,
                         card=trained.card, profile={**trained.profile, "new_price": {
                             **lookup, "series": {**lookup["series"], "丰田|凯美瑞": price}}})

    prices = [2_000_000, 499_000, 60_000]
    out = trained.predict(pd.DataFrame([car(new_price=p) for p in prices]
                                       + [car(), car(new_price=None)]))
    calm = [typical(p).predict(pd.DataFrame([car(new_price=p)])) for p in prices]
    assert out["value"][0] > 5 * out["value"][3]  # about 9x: the value follows the price
    assert out["confidence"][0] == calm[0]["confidence"][0] * 0.5
    assert "guide price far from the series' typical" in out["reasons"][0]
    assert ("new_price 2,000,000 is 10x the typical guide price of this series (200,000): "
            "check it") in out["warnings"][0]
    assert out["confidence"][1] == calm[1]["confidence"][0]  # 2.495x: inside the band
    assert out["confidence"][2] == calm[2]["confidence"][0] * 0.5
    assert ("new_price 60,000 is 0.3x the typical guide price of this series (200,000): "
            "check it") in out["warnings"][2]
    absurd = trained.predict(pd.DataFrame([car(new_price=1e12)]))
    assert ("new_price 1,000,000,000,000 is 5,000,000x the typical guide price of this series "
            "(200,000): check it") in absurd["warnings"][0]
    for i in (1, 3, 4):  # inside the band, the typical price, inferred from the series
        assert not any("typical guide price" in w for w in out["warnings"][i])
