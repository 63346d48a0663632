"""One ``AsyncSession`` per request, and the units of work that write through it.

The session is made lazily on first use (static, health-check and CSRF-rejected
requests never take a pooled connection) and closed at teardown, which rolls
back whatever was not committed. Views commit explicitly, once per unit of work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from quart import g
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.db.database import get_database, new_session
from quart_blog.db.engine import BEGIN_MODE


def get_session() -> AsyncSession:
    """The request's session, created on first use."""
    session: AsyncSession | None = g.get("db_session")
    if session is None:
        session = g.db_session = new_session()
    return session


async def close_session(_exc: BaseException | None) -> None:
    """Close the request's session; closing rolls back whatever was not committed.

    A request cancelled mid-flight (Quart cancels a handler whose client left while
    its body was still arriving) still returns its connection clean, and *before* its
    task ends: a connection parked inside an open transaction stops WAL checkpoints,
    holds PostgreSQL locks, and, if the app shuts down meanwhile, is never closed at
    all (seen under load: a leaked socket, and a later TRUNCATE deadlocked on its locks).
    A session with no transaction holds no connection, so there is nothing to close
    (most requests: their ``Prepared`` statements ran alone).
    """
    session: AsyncSession | None = g.pop("db_session", None)
    if session is not None and session.in_transaction():
        await finish_uncancelled(session.close())


async def finish_uncancelled(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to its end even if this task is cancelled meanwhile; then re-raise that."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


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

    An ORM statement keeps the connection the request's ORM reads used: SQLite
    reads open no transaction, so there is nothing to end first, and handing the
    connection back would send the write to the end of the pool's queue of
    waiting requests (under load, as long again as the request had already
    waited). A ``Prepared`` statement with no transaction open runs alone
    instead (``Prepared.run_alone``), committed as it ends.
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
        if session.in_transaction():
            await session.rollback()
        raise
    if session.in_transaction():  # else its statements ran alone, each committed (Prepared)
        await session.commit()


async def ping() -> None:
    """Raise unless the database answers ``SELECT 1`` (see ``Database.ping``)."""
    await get_database().ping()
