"""One rounding rule for every amount a customer sees: whole currency units, half away from
zero, in the breakdown (`explain.compose`) and in the value, range and residuals (`whole_units`)."""
import numpy as np

from valuation.model import explain
from valuation.services.valuations import whole_units, whole_units_array


def test_money_rounds_half_away_from_zero() -> None:
    assert [whole_units(x) for x in (0.5, 1.5, 2.5, 2.4999, -0.5, -2.5, 0.0, 99_999.5)] == \
        [1, 2, 3, 2, -1, -3, 0, 100_000]


def test_the_batch_rounds_each_amount_as_one_car_does() -> None:
    halves = np.arange(-1_000, 1_000) + 0.5
    rng = np.random.default_rng(4)
    values = np.concatenate([halves, np.nextafter(halves, 0), rng.uniform(-1e7, 1e7, 5_000),
                             [0.0, -0.0, 0.49999999999999994, 1e15 + 0.5]])
    assert whole_units_array(values).tolist() == [whole_units(float(v)) for v in values]
    assert whole_units_array(np.array([2.5, -2.5, 0.5])).tolist() == [3, -3, 1]


def test_the_breakdown_rounds_the_same_way() -> None:
    # one car: the reference 100,000.5, then each stage 1,000.5 higher (half-even would give
    # 100,000 and then alternate between rounding down and up)
    stages = 100_000.5 + 1_000 * np.arange(len(explain.GROUPS) + 1)
    (car,) = explain.compose(stages.reshape(-1, 1), {})
    assert car["base"] == 100_001
    assert [a["amount"] for a in car["adjustments"]] == [1_000] * len(explain.GROUPS)
    assert car["total"] == 100_001 + 1_000 * len(explain.GROUPS)
