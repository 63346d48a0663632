"""SPEC §9: every table comes from an Alembic migration, and the models match the migrations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from quart_blog.db import migrations

APP_TABLES = {"users", "posts", "auth_sessions"}
PACKAGE = Path(migrations.__file__).resolve().parent


def describe(database_url: str) -> dict[str, Any]:
    """Tables, indexes, unique constraints and foreign keys, read back from the database."""

    def read(connection: Connection) -> dict[str, Any]:
        inspector = inspect(connection)
        tables = set(inspector.get_table_names())
        found: dict[str, Any] = {"tables": tables}
        for table in tables & APP_TABLES:
            found[f"{table}.indexes"] = {
                tuple(index["column_names"]): bool(index["unique"])
                for index in inspector.get_indexes(table)
            }
            found[f"{table}.unique"] = {
                tuple(unique["column_names"]) for unique in inspector.get_unique_constraints(table)
            }
            found[f"{table}.fks"] = {
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table)
            }
        return found

    async def run() -> dict[str, Any]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def migration_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty SQLite file; or the shared PostgreSQL database, migrated back afterwards."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    try:
        yield database_url
    finally:
        migrations.upgrade(database_url)  # the session's other tests need the schema back


def assert_full_schema(database_url: str) -> None:
    schema = describe(database_url)
    assert schema["tables"] >= APP_TABLES
    assert "alembic_version" in schema["tables"]
    assert schema["posts.indexes"].get(("user_id", "id")) is False  # the (user_id, id) index
    unique_username = ("username_lower",) in schema["users.unique"] or schema["users.indexes"].get(
        ("username_lower",)
    )
    assert unique_username
    unique_token = ("token_hash",) in schema["auth_sessions.unique"] or schema[
        "auth_sessions.indexes"
    ].get(("token_hash",))
    assert unique_token
    assert (("user_id",), "users", "CASCADE") in schema["posts.fks"]
    assert (("user_id",), "users", "CASCADE") in schema["auth_sessions.fks"]


def test_migrations_upgrade_builds_schema_without_drift(migration_url: str) -> None:
    migrations.downgrade(migration_url, "base")  # a no-op on the fresh SQLite file

    migrations.upgrade(migration_url)

    assert_full_schema(migration_url)
    migrations.check(migration_url)  # raises if the models and the migrations differ


def test_migrations_downgrade_base_then_upgrade_again(migration_url: str) -> None:
    migrations.upgrade(migration_url)

    migrations.downgrade(migration_url, "base")
    assert not describe(migration_url)["tables"] & APP_TABLES

    migrations.upgrade(migration_url)
    assert_full_schema(migration_url)
    migrations.check(migration_url)


def test_migrations_upgrade_is_idempotent(migration_url: str) -> None:
    migrations.upgrade(migration_url)
    migrations.upgrade(migration_url)

    assert_full_schema(migration_url)


def test_app_package_never_calls_create_all() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "create_all" in path.read_text(encoding="utf-8")
    ]

    assert offenders == []
