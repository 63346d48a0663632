"""Building the async engine: the fair pool everywhere, SQLite's pragmas and explicit BEGIN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from quart_blog.db.connections import FairAsyncQueuePool, dbapi

# Execution option naming the BEGIN a SQLite transaction starts with ("IMMEDIATE" for
# writes); without it no BEGIN is sent and each read statement runs on its own.
BEGIN_MODE = "quart_blog_sqlite_begin"
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_POOL_SIZE = 16


def create_engine(url: str) -> AsyncEngine:
    """Build the async engine; SQLite gets its pragmas and explicit BEGIN handling."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, poolclass=FairAsyncQueuePool, pool_pre_ping=True)
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # A fixed pool: every overflow connection would cost a new thread, a connect and
    # its PRAGMAs, then be thrown away again under load. Requests past the pool queue.
    engine = create_async_engine(
        url,
        module=dbapi,
        poolclass=FairAsyncQueuePool,
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=0,
        pool_timeout=60,
    )
    install_sqlite_hooks(engine)
    return engine


def install_sqlite_hooks(engine: AsyncEngine) -> None:
    """Set WAL, busy timeout and foreign keys per connection; emit BEGIN ourselves.

    pysqlite's legacy transaction mode emits no BEGIN before SELECT, so a
    read-then-write unit fails with SQLITE_BUSY at once (ignoring busy_timeout)
    when another process wrote in between. Write units ask for ``BEGIN
    IMMEDIATE`` (see ``write_transaction``), so writers queue on busy_timeout
    instead. Reads send no BEGIN at all: each SELECT is its own snapshot, which
    saves two thread hops per request and means a request cancelled mid-read
    can never leave a connection parked inside a read transaction (which would
    stop WAL checkpoints).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # autocommit: no implicit BEGINs
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(BEGIN_MODE)
        if mode in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            connection.exec_driver_sql(f"BEGIN {mode}")
