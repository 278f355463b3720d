"""Shared fixtures: a tiny synthetic market, a tiny seeded model in a temporary registry, the app."""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import sqlalchemy

from valuation import create_app
from valuation.config import Config
from valuation.model import demo_market
from valuation.model.registry import Registry
from valuation.model.training import TrainConfig, train
from valuation.services import keys as api_keys
from valuation.store import db

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def benchmark_module() -> Callable[[str], ModuleType]:
    """Imports a module of benchmarks/ (a folder of scripts that import each other by name,
    not a package) by its name."""
    def load(name: str) -> ModuleType:
        sys.path.insert(0, str(BENCHMARKS))
        try:
            return importlib.import_module(name)
        finally:
            sys.path.remove(str(BENCHMARKS))
    return load


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared real datasets (tests using them skip per dataset when absent)."""
    return Config.from_env().DATA_ROOT


@pytest.fixture(scope="session")
def market() -> pd.DataFrame:
    return demo_market.generate(3_000, seed=11)


@pytest.fixture(scope="session")
def market_csv(tmp_path_factory: pytest.TempPathFactory, market: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("data") / "market.csv"
    market.to_csv(path, index=False)
    return path


def tiny_config(data: Path, name: str = "tiny", **extra: object) -> TrainConfig:
    params: dict[str, object] = dict(data=data, name=name, iterations=150, depth=5,
                                     learning_rate=0.2, threads=2, seed=3)
    params.update(extra)
    return TrainConfig(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny():
    """Build the TrainConfig of a tiny, fast, seeded model."""
    return tiny_config


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory, market_csv: Path) -> Path:
    """A registry holding `tiny:1`, trained once for the session and promoted."""
    root = tmp_path_factory.mktemp("models")
    train(tiny_config(market_csv), Registry(root), lambda s: None, lambda *a: None, promote=True)
    return root


@pytest.fixture(scope="session")
def trained(model_root: Path):
    from valuation.model.predictor import Predictor
    return Predictor.load(Registry(model_root), "tiny")


DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a SQLite file, and PostgreSQL when TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = os.environ.get("TEST_DATABASE_URL", "")
        if not url:
            pytest.skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    db.upgrade(url)
    return url


@pytest.fixture
def app(tmp_path: Path, model_root: Path, database_url: str):
    config = Config(DATABASE_URL=database_url, MODEL_ROOT=model_root,
                    MODEL_NAME="tiny", INSTANCE_PATH=tmp_path, TESTING=True)
    app = create_app(config)
    yield app
    db.dispose(app)


@pytest.fixture
def keys(app) -> dict[str, str]:
    """One API key per role (the dealer keys are bound to D1 and D2), as request headers."""
    out = {}
    with db.session_for(app) as session, session.begin():
        for role in api_keys.ROLES:
            dealer = "D1" if role == "dealer" else None
            out[role] = api_keys.create_key(session, role, f"{role}-test", dealer)
        out["dealer2"] = api_keys.create_key(session, "dealer", "dealer2-test", "D2")
    return {role: {"Authorization": f"Bearer {key}"} for role, key in out.items()}


@pytest.fixture
def demo_dealers(app) -> None:  # type: ignore[no-untyped-def]
    """The demo loan book's dealers D1-D20 (D2 in the watched tier T3, the others T1)."""
    from valuation.services.demo_loans import DEALERS
    from valuation.store.tables import DealerRecord

    with db.session_for(app) as session, session.begin():
        for dealer in DEALERS:
            session.merge(DealerRecord(id=dealer, name="", tier="T3" if dealer == "D2" else "T1"))


@pytest.fixture
def client(app):
    return app.test_client()
