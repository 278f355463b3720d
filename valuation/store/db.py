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


def make_engine(url: str, durable: bool = True) -> Engine:
    """An engine whose commits are on disk when they return (`durable`), or, with `durable`
    False, whose commits survive a crash of the process but may be lost, whole and in
    order, in a crash of the machine (SQLite synchronous=NORMAL in WAL mode; PostgreSQL
    synchronous_commit=off). Either way the database stays consistent."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", functools.partial(
            _sqlite_pragmas, "FULL" if durable else "NORMAL"))
        return engine
    relaxed = {} if durable else {"options": "-c synchronous_commit=off"}
    return create_engine(url, pool_pre_ping=True, connect_args=relaxed)


def _sqlite_pragmas(synchronous: str, connection, _record) -> None:  # type: ignore[no-untyped-def]
    """Write-ahead log: gunicorn's workers read while one writes, and a commit appends to the
    log instead of rewriting pages. synchronous=FULL syncs the log at every commit;
    NORMAL only at checkpoints. A FULL commit syncs the whole log, so it also makes durable
    every NORMAL commit before it."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.close()


def init_app(app: Flask) -> None:
    url, commit = app.config["DATABASE_URL"], app.config["VALUATION_COMMIT"]
    if commit not in ("relaxed", "durable"):
        raise ValueError(f"VALUATION_COMMIT must be relaxed or durable, not {commit!r}")
    engine = make_engine(url)
    app.extensions["db_engine"] = engine
    app.extensions["db_sessions"] = sessionmaker(engine, expire_on_commit=False)
    app.extensions["db_valuations_engine"] = (
        engine if commit == "durable" else make_engine(url, durable=False))
    head_revision()  # read the migrations once at start, not in the first /ready


def dispose(app: Flask) -> None:
    """Close every pooled connection of the app's engines."""
    app.extensions["db_engine"].dispose()
    app.extensions["db_valuations_engine"].dispose()


def engine() -> Engine:
    return current_app.extensions["db_engine"]


def valuations_engine() -> Engine:
    """The engine the valuation routes store their valuations through. With
    VALUATION_COMMIT=relaxed (the default) its commits are not synced one by one (see
    `make_engine`): a valuation is a quote that the caller can ask for again, and the last
    ones before a power cut may be lost. Everything else, a credit decision above all (and
    the valuation it stores when it values the car itself), commits through `engine` and is
    on disk when it returns; that sync flushes the whole log up to it (SQLite's WAL file,
    PostgreSQL's WAL), so it covers every valuation stored before it: a decision never rests
    on a lost valuation. VALUATION_COMMIT=durable stores valuations through `engine` too."""
    return current_app.extensions["db_valuations_engine"]


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
    if url.startswith("sqlite:///"):
        # the write-ahead log from the start (it stays set in the file): otherwise the first
        # connections of the workers each switch the new file to it, and two switching at
        # once can wait on each other until one fails with "database is locked"
        engine = make_engine(url)
        engine.connect().close()
        engine.dispose()
