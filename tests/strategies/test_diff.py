"""The cell-level strategy diff."""
import copy

import yaml

from strategies.diff import diff, render
from strategies.document import DEFAULT_PATH

DOC = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_changed_cells_are_listed_with_their_path() -> None:
    new = copy.deepcopy(DOC)
    new["price_tolerance"]["used_nev"]["B"]["T2"] = 0.03
    new["adjustments"][0]["max_ratio"] = 0.45
    new["hard_rules"]["refer_confidence_levels"] = ["low", "medium"]
    new["description"] = "tighter"
    assert render(diff(DOC, new)) == [
        "adjustments[0][max_ratio]: 0.5 -> 0.45",
        f"description: {DOC['description']} -> tighter",
        "hard_rules[refer_confidence_levels][1]: (absent) -> medium",
        "price_tolerance[used_nev][B][T2]: 0.0 -> 0.03",
    ]


def test_equal_numbers_in_other_types_are_not_changes() -> None:
    new = copy.deepcopy(DOC)
    new["refer_gap"] = "0.20"  # as a string, as JSON round trips may give
    new["ltv_max"]["new_ice"]["A"]["T1"] = 0.8
    assert diff(DOC, new) == [{"path": "refer_gap", "from": 0.2, "to": "0.20"}]
    assert diff(DOC, copy.deepcopy(DOC)) == []
