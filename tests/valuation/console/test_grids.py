"""Strategy documents as cells: parsing an edited cell as its value's type, setting it by path,
and the validation's errors by the same paths."""
from __future__ import annotations

import pytest

from valuation.console import grids

DOC = {"name": "default", "refer_gap": 0.2,
       "customer_tiers": {"order": ["A", "B"], "score_bands": [{"min_score": 700, "tier": "A"}]},
       "dealer_tiers": {"order": ["T1"]},
       "price_tolerance": {"used_ice": {"A": {"T1": 0.03}, "B": {"T1": 0.02}},
                           "new_ice": {"A": {"T1": 0.05}, "B": {"T1": 0.04}}},
       "hard_rules": {"decline_flood_damage": True, "max_mileage_km": 300000,
                      "refer_confidence_levels": ["low"]},
       "reasons": {"LTV_CAP": {"zh": "贷款价值比上限", "en": "Loan-to-value cap"}}}


def test_cells_are_parsed_as_the_type_they_had() -> None:
    edited, errors = grids.apply_cells(DOC, {
        "price_tolerance[used_ice][A][T1]": " 0.045 ", "hard_rules[max_mileage_km]": "250000",
        "hard_rules[decline_flood_damage]": "false", "refer_gap": "1e-1",
        "hard_rules[refer_confidence_levels][0]": "medium",
        "customer_tiers[score_bands][0][min_score]": "710",
        "name": "renamed", "not[a][path]": "1", "csrf_token": "x"})
    assert errors == {}
    assert edited["price_tolerance"]["used_ice"]["A"]["T1"] == 0.045
    assert edited["hard_rules"]["max_mileage_km"] == 250000
    assert type(edited["hard_rules"]["max_mileage_km"]) is int
    assert edited["hard_rules"]["decline_flood_damage"] is False
    assert edited["refer_gap"] == 0.1
    assert edited["hard_rules"]["refer_confidence_levels"] == ["medium"]
    assert edited["customer_tiers"]["score_bands"][0]["min_score"] == 710
    assert edited["name"] == "default"  # not editable
    assert DOC["price_tolerance"]["used_ice"]["A"]["T1"] == 0.03  # the input is untouched


@pytest.mark.parametrize(("path", "text", "message"), [
    ("price_tolerance[used_ice][A][T1]", "abc", "not a number"),
    ("price_tolerance[used_ice][A][T1]", "", "not a number"),
    ("hard_rules[max_mileage_km]", "true", "not a number"),
    ("hard_rules[decline_flood_damage]", "yes", "true or false"),
])
def test_a_cell_that_does_not_parse_is_named(path: str, text: str, message: str) -> None:
    edited, errors = grids.apply_cells(DOC, {path: text})
    assert errors == {path: [message]}
    assert edited == DOC


def test_grids_follow_the_segment_and_tier_order() -> None:
    (grid,) = grids.grids(DOC)
    assert grid.name == "price_tolerance" and grid.dealer_tiers == ["T1"]
    assert [segment for segment, _ in grid.segments] == ["new_ice", "used_ice"]
    segment, rows = grid.segments[1]
    assert [(ct, [(c.path, c.value) for c in cells]) for ct, cells in rows] == [
        ("A", [("price_tolerance[used_ice][A][T1]", 0.03)]),
        ("B", [("price_tolerance[used_ice][B][T1]", 0.02)])]


def test_sections_and_reasons() -> None:
    sections = dict(grids.sections(DOC))
    assert list(sections) == ["name", "customer_tiers", "dealer_tiers", "refer_gap",
                              "hard_rules"]
    assert [c.path for c in sections["hard_rules"]] == [
        "hard_rules[decline_flood_damage]", "hard_rules[max_mileage_km]",
        "hard_rules[refer_confidence_levels][0]"]
    ((code, zh, en),) = grids.reasons(DOC)
    assert (code, zh.path, zh.value, en.path) == ("LTV_CAP", "reasons[LTV_CAP][zh]",
                                                  "贷款价值比上限", "reasons[LTV_CAP][en]")


def test_validation_errors_land_on_cell_paths() -> None:
    errors = {"price_tolerance[used_ice][A][T1]": ["0.9 is outside -0.5..0.5"],
              "hard_rules": {"max_mileage_km": ["Must be greater than or equal to 0."]},
              "adjustments": {"0": {"max_ratio": ["Not a valid number."]}},
              "customer_tiers": ["score band tier 'Z' is not in order"]}
    assert grids.error_paths(errors) == {
        "price_tolerance[used_ice][A][T1]": ["0.9 is outside -0.5..0.5"],
        "hard_rules[max_mileage_km]": ["Must be greater than or equal to 0."],
        "adjustments[0][max_ratio]": ["Not a valid number."],
        "customer_tiers": ["score band tier 'Z' is not in order"]}
