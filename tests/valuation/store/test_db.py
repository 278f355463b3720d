"""The two engines: valuations commit relaxed by default, everything else durably."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from valuation import create_app
from valuation.config import Config
from valuation.store import db

CAR = {"brand": "丰田", "series": "凯美瑞", "energy_type": "petrol", "new_price": 200000,
       "first_registration": "2021-03-01", "mileage_km": 60000}


def sync_setting(engine: Engine) -> str:
    """What the database says about syncing a commit on this engine's connections."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # 1 = NORMAL, 2 = FULL (https://sqlite.org/pragma.html#pragma_synchronous)
            return {1: "NORMAL", 2: "FULL"}[conn.execute(text("PRAGMA synchronous")).scalar()]
        return str(conn.execute(text("SHOW synchronous_commit")).scalar())


def test_valuations_commit_relaxed_and_everything_else_durably(app) -> None:
    main, quotes = app.extensions["db_engine"], app.extensions["db_valuations_engine"]
    assert quotes is not main
    if main.dialect.name == "sqlite":
        assert (sync_setting(main), sync_setting(quotes)) == ("FULL", "NORMAL")
        with main.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    else:
        assert (sync_setting(main), sync_setting(quotes)) == ("on", "off")


def test_a_valuation_posted_is_read_back_through_the_durable_engine(app, keys) -> None:
    client = app.test_client()
    posted = client.post("/v1/valuations", json=CAR, headers=keys["dealer"])
    assert posted.status_code == 201
    with app.extensions["db_engine"].connect() as conn:
        stored = conn.execute(text("SELECT response_json FROM valuations WHERE id = :id"),
                              {"id": posted.json["id"]}).scalar()
    assert stored == posted.get_data(as_text=True)


def test_durable_valuations_share_the_one_engine(tmp_path: Path, model_root: Path,
                                                 database_url: str) -> None:
    app = create_app(Config(DATABASE_URL=database_url, MODEL_ROOT=model_root, MODEL_NAME="tiny",
                            INSTANCE_PATH=tmp_path, TESTING=True, VALUATION_COMMIT="durable"))
    try:
        assert app.extensions["db_valuations_engine"] is app.extensions["db_engine"]
        assert sync_setting(app.extensions["db_engine"]) in ("FULL", "on")
    finally:
        db.dispose(app)


def test_an_unknown_commit_setting_stops_the_start(tmp_path: Path, model_root: Path) -> None:
    with pytest.raises(ValueError, match="VALUATION_COMMIT must be relaxed or durable"):
        create_app(Config(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", MODEL_ROOT=model_root,
                          MODEL_NAME="tiny", INSTANCE_PATH=tmp_path, VALUATION_COMMIT="fast"))
