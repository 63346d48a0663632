"""The database extension: one engine per app, opened when serving starts, closed when it stops.

The engine lives on the app (never at import, never in ``g``), so every Hypercorn worker
and every test's event loop gets its own, and disposing it closes every pooled connection
(aiosqlite's threads would otherwise outlive the loop that owns them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from quart import Quart, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quart_blog import clock
from quart_blog.config import get_settings
from quart_blog.db.changes import ChangeCounter
from quart_blog.db.engine import create_engine, default_pool_size

EXTENSION_KEY = "quart_blog.db"
# How long a successful health-check round trip vouches for the database (seconds).
PING_FRESH_FOR = 0.5
# How long shutdown waits for a health ping still on its way (seconds).
PING_SHUTDOWN_WAIT = 2.0


class Database:
    """The app's engine and session factory."""

    def __init__(self, url: str, pool_size: int | None = None) -> None:
        self.url = url
        self.pool_size = pool_size or default_pool_size(url)
        self.engine = create_engine(url, self.pool_size)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. This process's BEGIN IMMEDIATE units
        # queue here before they take a pooled connection, so a waiting writer
        # holds none; across processes writers queue on the driver's WriterQueue.
        self.write_lock: asyncio.Lock | None = (
            asyncio.Lock() if self.engine.dialect.name == "sqlite" else None
        )
        # Set once the pool is open: what lets session lookups be kept (db.changes).
        self.changes: ChangeCounter | None = None
        self.ping_fresh_for = PING_FRESH_FOR
        self._ping: asyncio.Future[None] | None = None
        self._answered_at = float("-inf")  # clock.monotonic() when the last ping succeeded

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
        if clock.monotonic() - self._answered_at < self.ping_fresh_for:
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
            self._answered_at = clock.monotonic()

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
            connections = [await self.engine.connect() for _ in range(self.pool_size)]
        except (SQLAlchemyError, OSError) as error:
            # Serve anyway: /healthz answers 503 until the database can be opened.
            logging.getLogger(__name__).warning("cannot open the database: %s", error)
            return
        for connection in connections:
            await connection.close()
        self.changes = ChangeCounter.registered(self.url)

    async def dispose(self) -> None:
        """Close every connection: a ping in flight holds one, so it ends first.

        It gets ``PING_SHUTDOWN_WAIT`` seconds to finish (a database that does not
        answer must not hold up shutdown), then it is cancelled.
        """
        ping = self._ping
        if ping is not None:
            await asyncio.wait([ping], timeout=PING_SHUTDOWN_WAIT)
            ping.cancel()
            await asyncio.wait([ping])
        await self.engine.dispose()


async def open_database(app: Quart) -> None:
    """Create the app's engine and open its pool (a ``before_serving`` hook)."""
    settings = get_settings(app)
    database = Database(settings.database_url, settings.db_pool_size)
    app.extensions[EXTENSION_KEY] = database
    await database.open_pool()


async def close_database(app: Quart) -> None:
    """Close every connection of the app's engine (an ``after_serving`` hook)."""
    database: Database | None = app.extensions.pop(EXTENSION_KEY, None)
    if database is not None:
        await database.dispose()


def get_database(app: Quart | None = None) -> Database:
    """The database of ``app`` (default: the running app)."""
    database: Database = (app or current_app).extensions[EXTENSION_KEY]
    return database


def new_session() -> AsyncSession:
    """A session of the running app's database (the request's own comes from ``get_session``)."""
    return get_database().sessionmaker()
