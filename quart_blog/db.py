"""Engine lifecycle, the per-request session, and SQLite tuning.

The engine lives on the app (created when serving starts, disposed when it
stops), so every worker and every test's event loop gets its own. A request
gets one ``AsyncSession``, made lazily on first use and closed at teardown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from quart import Quart, current_app, g
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from quart_blog import sqlite_driver
from quart_blog.pool import FairAsyncQueuePool

EXTENSION_KEY = "quart_blog.db"
# Execution option naming the BEGIN a SQLite transaction starts with ("IMMEDIATE" for
# writes); without it no BEGIN is sent and each read statement runs on its own.
BEGIN_MODE = "quart_blog_sqlite_begin"
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_POOL_SIZE = 16
# How long a successful health-check round trip vouches for the database (seconds).
PING_FRESH_FOR = 0.5


class Database:
    """The app's engine and session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. This process's BEGIN IMMEDIATE units
        # queue here before they take a pooled connection, so a waiting writer
        # holds none; across processes writers queue on the driver's WriterQueue.
        self.write_lock: asyncio.Lock | None = (
            asyncio.Lock() if self.engine.dialect.name == "sqlite" else None
        )
        self._ping: asyncio.Future[None] | None = None
        self.ping_fresh_for = PING_FRESH_FOR
        self._answered_at = float("-inf")  # time.monotonic() when the last ping succeeded

    async def ping(self) -> None:
        """Raise unless the database answers ``SELECT 1``.

        Health checks that arrive while a ping is on its way wait for that ping
        instead of sending their own: a flood of probes then holds one pooled
        connection rather than all of them. A check within ``ping_fresh_for``
        of a successful round trip is answered from it: a lone probe every few
        milliseconds otherwise cost ~1 ms of CPU in thread hand-offs each, taken
        from the work it is watching (a login storm's hashing, above all). A
        failure is never reused, so an outage shows within half a second and
        recovery on the next check.
        """
        if time.monotonic() - self._answered_at < self.ping_fresh_for:
            return
        if self._ping is None:
            self._ping = asyncio.ensure_future(self._select_one())
            self._ping.add_done_callback(self._ping_done)
        await asyncio.shield(self._ping)  # a waiter that goes away must not cancel it for all

    async def _select_one(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    def _ping_done(self, ping: asyncio.Future[None]) -> None:
        self._ping = None
        if not ping.cancelled() and ping.exception() is None:  # seen, even with no waiter left
            self._answered_at = time.monotonic()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Hold this process's SQLite write slot (a no-op on PostgreSQL)."""
        if self.write_lock is None:
            yield
        else:
            async with self.write_lock:
                yield

    async def open_pool(self) -> None:
        """Open every pooled connection now, not in the first burst of requests.

        A connection costs a thread and a few PRAGMAs; made on demand, the first
        hundreds of requests of a burst all queued behind those 16 connects, and
        their latency was twice that of the steady state.
        """
        if self.engine.dialect.name != "sqlite":
            return  # a network database may be down at start-up; /healthz reports it then
        try:
            connections = [await self.engine.connect() for _ in range(SQLITE_POOL_SIZE)]
        except (SQLAlchemyError, OSError) as error:
            # Serve anyway: /healthz answers 503 until the database can be opened.
            logging.getLogger(__name__).warning("cannot open the database: %s", error)
            return
        for connection in connections:
            await connection.close()

    async def dispose(self) -> None:
        """Close every pooled connection (aiosqlite threads block interpreter exit otherwise)."""
        await self.engine.dispose()


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
        module=sqlite_driver.dbapi,
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


def init_app(app: Quart) -> None:
    """Create the engine when serving starts and dispose of it when serving stops."""

    @app.before_serving
    async def open_database() -> None:
        database = app.extensions[EXTENSION_KEY] = Database(app.config["DATABASE_URL"])
        await database.open_pool()

    @app.after_serving
    async def close_database() -> None:
        database: Database | None = app.extensions.pop(EXTENSION_KEY, None)
        if database is not None:
            await database.dispose()

    app.teardown_appcontext(close_session)


def get_database() -> Database:
    """The running app's database."""
    database: Database = current_app.extensions[EXTENSION_KEY]
    return database


def get_session() -> AsyncSession:
    """The request's session, created on first use so static and rejected requests skip the pool."""
    session: AsyncSession | None = g.get("db_session")
    if session is None:
        session = get_database().sessionmaker()
        g.db_session = session
    return session


async def close_session(_exc: BaseException | None) -> None:
    """Close the request's session; closing rolls back whatever was not committed.

    Shielded so that a request cancelled because its client went away still
    returns its connection clean: a connection parked inside an open read
    transaction stops WAL checkpoints and can keep a worker alive at shutdown.
    """
    session: AsyncSession | None = g.pop("db_session", None)
    if session is not None:
        await asyncio.shield(session.close())


@asynccontextmanager
async def write_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Run one write unit of work: ``BEGIN IMMEDIATE`` on SQLite, commit or roll back.

    Any read transaction the session still has open is ended first, because an
    immediate lock can only be asked for at BEGIN.
    """
    await end_read(session)
    async with get_database().writing():
        await session.connection(execution_options={BEGIN_MODE: "IMMEDIATE"})
        async with committed(session):
            yield session


@asynccontextmanager
async def single_write(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Run ONE write statement, atomic on its own: no BEGIN on SQLite.

    The statement then holds SQLite's write lock only while it executes on the
    database thread, instead of across the three event-loop round trips of
    BEGIN IMMEDIATE / statement / COMMIT, during which every other writer of
    every worker waits. Concurrent statements queue on busy_timeout. Use
    ``write_transaction`` whenever a unit of work has more than one statement.
    On PostgreSQL this is an ordinary transaction.

    The request keeps the connection its reads used: SQLite reads open no
    transaction, so there is nothing to end first, and handing the connection
    back would send the write to the end of the pool's queue of waiting
    requests (under load, as long again as the request had already waited).
    """
    async with committed(session):
        yield session


async def end_read(session: AsyncSession) -> None:
    """End whatever read transaction the session still has open."""
    if session.in_transaction():
        await session.commit()


@asynccontextmanager
async def committed(session: AsyncSession) -> AsyncIterator[None]:
    """Commit when the block succeeds; roll back on any error or cancellation."""
    try:
        yield
    except BaseException:
        await session.rollback()
        raise
    await session.commit()


async def ping() -> None:
    """Raise unless the database answers ``SELECT 1`` (see ``Database.ping``)."""
    await get_database().ping()
