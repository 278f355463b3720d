"""Database engine and sessions (SQLAlchemy 2): SQLite file by default, PostgreSQL by DATABASE_URL."""
from __future__ import annotations

import functools
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

# the database cannot be reached (down, refused, dropped the connection, pool exhausted)
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(connection, _record) -> None:  # type: ignore[no-untyped-def]
    """Write-ahead log: gunicorn's workers read while one writes, and a commit appends to the
    log instead of rewriting pages (still synchronous=FULL: a committed decision survives)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["db_engine"] = engine
    app.extensions["db_sessions"] = sessionmaker(engine, expire_on_commit=False)
    head_revision()  # read the migrations once at start, not in the first /ready


def engine() -> Engine:
    return current_app.extensions["db_engine"]


def session() -> Session:
    """A new session; the caller (a service) owns the transaction."""
    return session_for(current_app)


def session_for(app: Flask) -> Session:
    return app.extensions["db_sessions"]()


def status() -> str:
    """"ok" when the database answers and is at the migrations' head, "unreachable" or
    "not migrated" (no migrations applied, or not the latest: run `valuation db upgrade`)."""
    try:
        with engine().connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # noqa: BLE001 - a missing table is "not migrated", anything else below
        try:
            with engine().connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            return "unreachable"
        return "not migrated"
    return "ok" if current == head_revision() else "not migrated"


@functools.cache
def head_revision() -> str:
    """The latest migration of this code (read once per process)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    """Alembic configuration pointing at the packaged migrations and this URL."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (the CLI's `valuation db upgrade`)."""
    from alembic import command

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
