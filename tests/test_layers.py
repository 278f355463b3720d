"""The import direction of the layers: http -> services -> model, store -> strategies, never up."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each wing and the modules it must never import (a name and everything below it).
SHELL = ("valuation.cli", "valuation.serving")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "strategies": ("valuation", "flask", "flask_smorest", "werkzeug", "sqlalchemy"),
    "valuation.http": ("valuation.console",),
    "valuation.console": ("valuation.http", "valuation.cli", "flask_smorest"),
    "valuation.model": ("valuation.http", "valuation.console", "valuation.services",
                        "valuation.store", *SHELL,
                        "flask", "flask_smorest", "sqlalchemy"),
    "valuation.store": ("valuation.http", "valuation.console", "valuation.services",
                        "valuation.model", *SHELL),
    "valuation.services": ("valuation.http", "valuation.console", *SHELL, "flask",
                           "flask_smorest"),
    "valuation.errors": ("valuation.http", "valuation.services", "valuation.model",
                         "valuation.store", *SHELL),
    "valuation.config": ("valuation.http", "valuation.services", "valuation.model",
                         "valuation.store", *SHELL),
    "valuation.clock": ("valuation.http", "valuation.services", "valuation.model",
                        "valuation.store", *SHELL),
    "valuation.instance": ("valuation.http", "valuation.services", "valuation.model",
                           "valuation.store", *SHELL),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names a module imports; `from a import b` yields both `a` and `a.b`."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            names.add(origin)
            names.update(f"{origin}.{alias.name}" for alias in node.names)
    return names


def violations(module: str, names: set[str]) -> list[str]:
    wing = next((w for w in FORBIDDEN if module == w or module.startswith(w + ".")), None)
    if wing is None:
        return []
    found = []
    for name in sorted(names):
        for banned in FORBIDDEN[wing]:
            if name == banned or name.startswith(banned + "."):
                if banned == "valuation" and wing != "strategies":
                    continue
                found.append(f"{module} imports {name} ({wing} may not import {banned})")
    return found


def sources() -> list[Path]:
    return sorted(p for d in ("valuation", "strategies") for p in (ROOT / d).rglob("*.py")
                  if "migrations" not in p.parts)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_higher_wing(path: Path) -> None:
    module = module_name(path)
    names = imported(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    assert violations(module, names) == []


def test_every_wing_exists() -> None:
    for wing in ("valuation.http", "valuation.services", "valuation.model", "valuation.store"):
        init = ROOT / wing.replace(".", "/") / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), wing


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("valuation.model.predictor", "from ..services import credit", "valuation.services.credit"),
    ("valuation.model.predictor", "from .. import serving", "valuation.serving"),
    ("valuation.store.tables", "from valuation.http.auth import require", "valuation.http.auth"),
    ("valuation.services.credit", "from ..http import schemas", "valuation.http.schemas"),
    ("valuation.services.credit", "import flask", "flask"),
    ("strategies.engine", "from valuation.model import record", "valuation.model.record"),
    ("strategies.engine", "from flask import g", "flask"),
    ("valuation.errors", "from .services import keys", "valuation.services.keys"),
])
def test_the_check_catches_an_upward_import(module: str, source: str, expected: str) -> None:
    found = violations(module, imported(source, module, is_package=False))
    assert any(line.startswith(f"{module} imports {expected} ") for line in found), found


@pytest.mark.parametrize(("module", "source"), [
    ("valuation.http.credit", "from ..services import credit"),
    ("valuation.services.credit", "from ..model.predictor import Predictor"),
    ("valuation.services.credit", "from ..store.tables import CreditDecisionRecord"),
    ("valuation.model.training", "from ..errors import DataError"),
    ("strategies.frame", "from .engine import decide"),
])
def test_the_check_allows_a_downward_import(module: str, source: str) -> None:
    assert violations(module, imported(source, module, is_package=False)) == []
