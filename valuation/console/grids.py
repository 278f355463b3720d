"""Strategy documents as the console shows and edits them: the two grids (price tolerance and
maximum LTV, by segment x customer tier x dealer tier), the score bands, and every other
setting as one row per leaf. Cells are named by the paths `strategies.diff.flatten` gives
(`price_tolerance[used_nev][B][T2]`), the same paths the validation's errors and the diff use,
so an error or a change lands on its cell. No Flask here."""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from strategies.diff import flatten
from strategies.facts import SEGMENTS

GRIDS = ("price_tolerance", "ltv_max")
# the sections of a credit strategy in the order the engine applies them (others follow)
SECTION_ORDER = ("name", "description", "currency", "customer_tiers", "dealer_tiers",
                 "refer_gap", "hard_rules", "adjustments", "products", "default_product")
NOT_EDITABLE = ("name",)
_STEP = re.compile(r"\[([^\]]*)\]")


@dataclass(frozen=True)
class Cell:
    path: str
    value: Any


@dataclass(frozen=True)
class Grid:
    """One grid: per segment, a table of customer tiers (rows) x dealer tiers (columns)."""

    name: str
    dealer_tiers: list[str]
    segments: list[tuple[str, list[tuple[str, list[Cell]]]]]


def grids(document: dict[str, Any]) -> list[Grid]:
    """The document's grids in its tier order (a monitoring policy has none)."""
    out = []
    ctiers = document.get("customer_tiers", {}).get("order", [])
    dtiers = document.get("dealer_tiers", {}).get("order", [])
    for name in GRIDS:
        grid = document.get(name)
        if not isinstance(grid, dict):
            continue
        segments = []
        order = [k for k in SEGMENTS if k in grid] + sorted(set(grid) - set(SEGMENTS))
        for segment in order:
            rows = grid[segment]
            table = [(ct, [Cell(f"{name}[{segment}][{ct}][{dt}]",
                                rows.get(ct, {}).get(dt)) for dt in dtiers]) for ct in ctiers]
            segments.append((segment, table))
        out.append(Grid(name, dtiers, segments))
    return out


def settings(document: dict[str, Any]) -> list[Cell]:
    """Every leaf outside the grids, in path order."""
    return [Cell(path, value) for path, value in flatten(document).items()
            if _top(path) not in GRIDS]


def sections(document: dict[str, Any]) -> list[tuple[str, list[Cell]]]:
    """`settings` grouped by their top-level key (hard rules, adjustments, products, ...) in
    SECTION_ORDER, then the others; without the reason texts (`reasons` lists them)."""
    groups: dict[str, list[Cell]] = {}
    for cell in settings(document):
        groups.setdefault(_top(cell.path), []).append(cell)
    order = [k for k in SECTION_ORDER if k in groups]
    order += sorted(k for k in groups if k not in order and k != "reasons")
    return [(k, groups[k]) for k in order]


def reasons(document: dict[str, Any]) -> list[tuple[str, Cell, Cell]]:
    """Each reason code with its Chinese and English cells."""
    texts = document.get("reasons")
    if not isinstance(texts, dict):
        return []
    return [(code, Cell(f"reasons[{code}][zh]", texts[code].get("zh")),
             Cell(f"reasons[{code}][en]", texts[code].get("en"))) for code in sorted(texts)]


def _top(path: str) -> str:
    return path.split("[", 1)[0]


def steps(path: str) -> list[str]:
    """`price_tolerance[used_nev][B][T2]` -> ['price_tolerance', 'used_nev', 'B', 'T2']."""
    return [_top(path), *_STEP.findall(path)]


def parse_cell(text: str, before: Any) -> Any:
    """A cell's text as the type its value had: a number stays a number (an integer where the
    text is one; JSON's reading, as the API's body), a flag a flag, a text a text. ValueError
    for a number or flag that does not parse."""
    text = text.strip()
    if isinstance(before, bool):
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ValueError("true or false")
    if isinstance(before, (int, float)) or before is None and text:
        try:
            value = json.loads(text)
        except ValueError:
            raise ValueError("not a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("not a number")
        return value
    return text


def apply_cells(document: dict[str, Any], form: dict[str, str]
                ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The document with the form's cells (path -> text) set, and the cells that did not
    parse (path -> messages). Paths the document does not have are ignored."""
    out = copy.deepcopy(document)
    known = flatten(document)
    errors: dict[str, list[str]] = {}
    for path, text in form.items():
        if path not in known or _top(path) in NOT_EDITABLE:
            continue
        try:
            value = parse_cell(text, known[path])
        except ValueError as exc:
            errors[path] = [str(exc)]
            continue
        _set(out, steps(path), value)
    return out, errors


def _set(document: Any, path: list[str], value: Any) -> None:
    node = document
    for step in path[:-1]:
        node = node[int(step)] if isinstance(node, list) else node[step]
    last = path[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def error_paths(errors: Any, path: str = "") -> dict[str, list[str]]:
    """The validation's errors (marshmallow's nested messages, or already by path) by cell
    path; a message about a whole section stays on the section's path."""
    if isinstance(errors, dict):
        out: dict[str, list[str]] = {}
        for key, value in errors.items():
            child = f"{path}[{key}]" if path else str(key)
            for inner, messages in error_paths(value, child).items():
                out.setdefault(inner, []).extend(messages)
        return out
    if isinstance(errors, list) and errors and all(isinstance(m, str) for m in errors):
        return {path or "_schema": list(errors)}
    if isinstance(errors, list):
        out = {}
        for i, item in enumerate(errors):
            out.update(error_paths(item, f"{path}[{i}]"))
        return out
    return {path or "_schema": [str(errors)]}
