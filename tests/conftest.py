"""Shared fixtures: a tiny synthetic market, a tiny seeded model in a temporary registry, the app."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from valuation import create_app, demo_market
from valuation.config import Config
from valuation.registry import Registry
from valuation.training import TrainConfig, train


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
    from valuation.predictor import Predictor
    return Predictor.load(Registry(model_root), "tiny")


@pytest.fixture
def app(tmp_path: Path, model_root: Path):
    config = Config(DATABASE_URL=f"sqlite:///{tmp_path / 'test.db'}", MODEL_ROOT=model_root,
                    MODEL_NAME="tiny", INSTANCE_PATH=tmp_path, TESTING=True)
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()
