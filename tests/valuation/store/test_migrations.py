"""The migrations and the table definitions agree: a database migrated from empty matches
`tables.Base.metadata` exactly (Alembic's own comparison), on SQLite and on PostgreSQL when
TEST_DATABASE_URL is set; `downgrade` to base and `upgrade` again round-trip."""
from __future__ import annotations

import datetime as dt

import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from valuation.store import db
from valuation.store.tables import Base


def drift(url: str) -> list:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = sqlalchemy.create_engine(url)
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrated_database_matches_the_tables_and_round_trips(database_url: str) -> None:
    # `database_url` is migrated to head from empty
    assert drift(database_url) == []
    config = db.alembic_config(database_url)
    command.downgrade(config, "base")
    assert tables(database_url) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert drift(database_url) == []
    assert set(Base.metadata.tables) <= tables(database_url)


def test_a_version_never_updated_gets_its_creation_time(database_url: str) -> None:
    """0006 makes strategy_versions.updated_at NOT NULL; rows from before it had none."""
    config = db.alembic_config(database_url)
    command.downgrade(config, "0005")
    created = dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC)
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(
                "INSERT INTO strategy_versions (name, version, state, document_json, "
                "content_hash, author, created_at, revision, updated_at) VALUES "
                "('s', 1, 'draft', '{}', 'h', 'a', :created, 1, NULL)"), {"created": created})
        command.upgrade(config, "head")
        with engine.connect() as conn:
            updated = conn.execute(sqlalchemy.text(
                "SELECT updated_at FROM strategy_versions WHERE name = 's'")).scalar_one()
    finally:
        engine.dispose()
    if isinstance(updated, str):  # SQLite hands back text
        updated = dt.datetime.fromisoformat(updated)
    assert updated.replace(tzinfo=updated.tzinfo or dt.UTC) == created
