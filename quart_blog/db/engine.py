"""Building the async engine: a fixed fair pool everywhere, SQLite's pragmas and explicit BEGIN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from quart_blog.db.connections import FairAsyncQueuePool, dbapi

# Execution option naming the BEGIN a SQLite transaction starts with ("IMMEDIATE" for
# writes); without it no BEGIN is sent and each read statement runs on its own.
BEGIN_MODE = "quart_blog_sqlite_begin"
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_POOL_SIZE = 16
# Per worker. Across a network each request holds its connection for its round trips,
# so more of them must be in flight than on SQLite; workers x this must stay below the
# server's max_connections (100 by default).
POSTGRESQL_POOL_SIZE = 20
POOL_TIMEOUT_S = 60


def default_pool_size(url: str) -> int:
    """Connections per worker when ``DB_POOL_SIZE`` is not set."""
    return (
        SQLITE_POOL_SIZE if make_url(url).get_backend_name() == "sqlite" else POSTGRESQL_POOL_SIZE
    )


def create_engine(url: str, pool_size: int | None = None) -> AsyncEngine:
    """Build the async engine with a fixed pool of ``pool_size`` (default per backend).

    Fixed: an overflow connection costs a connect (a thread and PRAGMAs on SQLite, a
    TCP and auth handshake on PostgreSQL), then is thrown away again under load, exactly
    when it hurts. Requests past the pool queue, first come first served.
    """
    parsed = make_url(url)
    pool: dict[str, Any] = {
        "poolclass": FairAsyncQueuePool,
        "pool_size": pool_size or default_pool_size(url),
        "max_overflow": 0,
        "pool_timeout": POOL_TIMEOUT_S,
    }
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(url, **pool)
        event.listen(engine.sync_engine.pool, "checkout", refuse_lost_connection)
        return engine
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, module=dbapi, **pool)
    install_sqlite_hooks(engine)
    return engine


def refuse_lost_connection(
    _dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Never hand out a pooled connection the driver already knows is closed.

    When PostgreSQL restarts or kills a backend, asyncpg sees the socket close and marks
    the connection closed; raising ``DisconnectionError`` here makes the pool drop it and
    check out (or open) another, so no request fails on it. This replaces
    ``pool_pre_ping``, which on asyncpg costs three round trips (BEGIN, a ping, ROLLBACK)
    per checkout, more than the statements of a whole read request.
    """
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the pooled connection was closed by the server")


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
