"""Cell-level diff of two strategy documents, e.g. `price_tolerance[used_nev][B][T2]: 0.05 -> 0.03`."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

MISSING = "(absent)"


def flatten(document: Any, path: str = "") -> dict[str, Any]:
    """Leaf values by path: mappings as [key] (top level as key), lists as [index]."""
    if isinstance(document, dict):
        out: dict[str, Any] = {}
        for key in sorted(document):
            child = f"{path}[{key}]" if path else str(key)
            out.update(flatten(document[key], child))
        return out
    if isinstance(document, list):
        out = {}
        for i, item in enumerate(document):
            out.update(flatten(item, f"{path}[{i}]"))
        return out
    return {path: document}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return Decimal(str(a)) == Decimal(str(b))
    return bool(a == b)


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Every changed, added or removed cell, in path order."""
    a, b = flatten(old), flatten(new)
    out = []
    for path in sorted(set(a) | set(b)):
        before, after = a.get(path, MISSING), b.get(path, MISSING)
        if before is MISSING or after is MISSING or not _same(before, after):
            out.append({"path": path, "from": before, "to": after})
    return out


def render(changes: list[dict[str, Any]]) -> list[str]:
    return [f"{c['path']}: {c['from']} -> {c['to']}" for c in changes]
