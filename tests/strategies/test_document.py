"""Strategy documents: what validation refuses on save, and what it only warns about."""
import copy

import pytest
import yaml

from strategies.document import DEFAULT_PATH, StrategyError, load_file, load_strategy, monotonicity_warnings

DOC = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))


def changed(edit) -> dict:
    doc = copy.deepcopy(DOC)
    edit(doc)
    return doc


def test_the_default_strategy_loads_without_warnings() -> None:
    strategy = load_file(DEFAULT_PATH)
    assert strategy.name == "default" and strategy.currency == "CNY"
    assert strategy.customer_tiers == ("A", "B", "C", "D", "E")
    assert strategy.most_cautious_dealer_tier == "T3"
    assert str(strategy.ltv_max["commercial_nev"]["A"]["T1"]) == "0.65"
    assert monotonicity_warnings(strategy) == []
    assert strategy.content_hash == load_strategy(copy.deepcopy(DOC)).content_hash


@pytest.mark.parametrize("edit, path, message", [
    (lambda d: d["ltv_max"]["used_nev"]["B"].pop("T2"), "ltv_max[used_nev][B][T2]",
     "missing cell"),
    (lambda d: d["price_tolerance"]["new_ice"].pop("E"), "price_tolerance[new_ice][E][T1]",
     "missing cell"),
    (lambda d: d["ltv_max"]["used_ice"]["A"].update(T1=0.75), "ltv_max[used_ice][A][T1]",
     "above the regulatory cap 0.70"),
    # commercial NEV segments hold used cars too (70 %), so no cell may exceed 70 %
    (lambda d: d["ltv_max"]["commercial_nev"]["A"].update(T1=0.75),
     "ltv_max[commercial_nev][A][T1]", "above the regulatory cap 0.70"),
    (lambda d: d["ltv_max"]["new_ice"]["A"].update(T1="0.80001"), "ltv_max[new_ice][A][T1]",
     "more than 4 decimals"),
    (lambda d: d["price_tolerance"]["new_ice"]["A"].update(T1="0.00005"),
     "price_tolerance[new_ice][A][T1]", "more than 4 decimals"),
    (lambda d: d["ltv_max"]["new_ice"]["A"].update(T1=1.2), "ltv_max[new_ice][A][T1]",
     "outside 0..1"),
    (lambda d: d["price_tolerance"]["new_ice"]["A"].update(T1=0.9),
     "price_tolerance[new_ice][A][T1]", "outside -0.5..0.5"),
])
def test_grid_problems_are_refused(edit, path, message) -> None:
    with pytest.raises(StrategyError) as err:
        load_strategy(changed(edit))
    assert message in " ".join(err.value.errors[path])


@pytest.mark.parametrize("edit, key", [
    (lambda d: d.update(surprise=1), "surprise"),
    (lambda d: d["hard_rules"].update(allow_everything=True), "hard_rules"),
    (lambda d: d["adjustments"].append({"type": "bonus"}), "adjustments"),
    (lambda d: d["adjustments"].append({"type": "round_down"}), "adjustments"),
    (lambda d: d.update(default_product="gold"), "default_product"),
    (lambda d: d["hard_rules"].update(segments_offered=["boats"]), "hard_rules"),
    (lambda d: d["customer_tiers"]["score_bands"].append({"min_score": 1, "tier": "Z"}),
     "customer_tiers"),
    (lambda d: d.pop("refer_gap"), "refer_gap"),
])
def test_unknown_keys_and_bad_references_are_refused(edit, key) -> None:
    with pytest.raises(StrategyError) as err:
        load_strategy(changed(edit))
    assert key in err.value.errors


def test_a_worse_tier_with_a_looser_cell_is_a_warning_not_an_error() -> None:
    strategy = load_strategy(changed(lambda d: d["ltv_max"]["used_ice"]["C"].update(T1=0.69)))
    warnings = monotonicity_warnings(strategy)
    assert warnings == ["ltv_max[used_ice][C][T1] = 0.69 is looser than better customer tier B"]
