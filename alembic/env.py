"""Alembic environment (async template): migrations run through ``run_sync``."""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from sqlalchemy.engine import Connection

from alembic import context
from quart_blog.config import DEFAULT_DATABASE_URL, parse_database_url
from quart_blog.db.engine import BEGIN_MODE, create_engine
from quart_blog.tables import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def database_url() -> str:
    """The URL given by the caller, else DATABASE_URL, else the SQLite default."""
    given = config.attributes.get("database_url")
    return (
        str(given)
        if given
        else parse_database_url(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER by copy-and-move
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    """Run migrations on the same kind of engine the app uses (same SQLite pragmas)."""
    engine = create_engine(database_url())
    try:
        async with engine.connect() as connection:
            # Migrations are one SQLite write transaction (reads otherwise send no BEGIN).
            await connection.execution_options(**{BEGIN_MODE: "IMMEDIATE"})
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
