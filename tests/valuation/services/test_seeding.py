"""Seeding the shipped versions (the default strategy, the monitoring policy) on a new database:
the first requests of two workers may seed at once, and both must go on with the one version
that lands, not fail on the unique version."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy.orm import Session

from valuation.services import lifecycle, strategy_store
from valuation.store import db


def _both_at_once(url: str, seed: Callable[[Session], None], monkeypatch: pytest.MonkeyPatch,
                  shipped: tuple[Any, str]) -> list[BaseException | None]:
    """Two sessions seed at once: both pass the "no version yet" checks, meet, then insert.
    Returns each one's error (None when it succeeded)."""
    meet = threading.Barrier(2, timeout=30)
    module, name = shipped
    real = getattr(module, name)

    def met() -> Any:
        meet.wait()  # both have found no version
        return real()

    monkeypatch.setattr(module, name, met)
    errors: list[BaseException | None] = [None, None]
    engines = [db.make_engine(url), db.make_engine(url)]

    def worker(i: int) -> None:
        try:
            with Session(engines[i]) as session, session.begin():
                seed(session)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    return errors


def _versions(url: str, name: str) -> tuple[list[Any], list[Any]]:
    engine = db.make_engine(url)
    with engine.connect() as conn:
        versions = conn.execute(sqlalchemy.text(
            "SELECT version, state, author FROM strategy_versions WHERE name = :n"),
            {"n": name}).all()
        audit = conn.execute(sqlalchemy.text(
            "SELECT version, action, actor FROM strategy_audit WHERE name = :n"),
            {"n": name}).all()
    engine.dispose()
    return [tuple(v) for v in versions], [tuple(a) for a in audit]


@pytest.mark.parametrize(("name", "seed", "shipped"), [
    ("default", strategy_store.seed_default, (strategy_store, "default_strategy")),
    ("monitoring", lifecycle.seed_monitoring, (lifecycle, "default_policy")),
], ids=["default strategy (first decisions)", "monitoring policy (first monitoring runs)"])
def test_two_first_requests_seed_the_shipped_version_once(
        database_url: str, monkeypatch: pytest.MonkeyPatch, name: str,
        seed: Callable[[Session], None], shipped: tuple[Any, str]) -> None:
    errors = _both_at_once(database_url, seed, monkeypatch, shipped)
    assert errors == [None, None]
    assert _versions(database_url, name) == ([(1, "active", "system")], [(1, "seed", "system")])
