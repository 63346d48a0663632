"""Where quart_blog goes below SQLAlchemy's and aiosqlite's public API: the only module that does.

Two speed-ups live here, each measured (docs/PERFORMANCE.md):

- **A pool that serves waiting requests first come, first served** (``FairAsyncQueuePool``).
  SQLAlchemy's asyncio pool queues on ``asyncio.Queue``, which lets a newcomer barge: a
  returned connection wakes the longest waiter, but a request that asks before that waiter
  runs takes it, and the woken waiter goes back to the *end* of the line. With hundreds of
  requests per worker waiting on a pool of 16, p99 latency at 1024 connections was 4x the
  median. Here a returned connection is handed straight to the oldest waiter. SQLAlchemy has
  no public hook for the pool's queue, so this sets the pool's ``_queue_class``.
- **A one-hop-per-statement aiosqlite DBAPI** (``dbapi``, for ``create_async_engine(url,
  module=dbapi)``). SQLAlchemy's aiosqlite adapter sends every statement through aiosqlite's
  worker thread four or five times (cursor(), execute, fetchall, cursor close) and adds a
  ROLLBACK hop on every pool return, even with no transaction open. Each hop is a queue put,
  a thread wake-up and a ``call_soon_threadsafe`` back to the loop. Measured (µs of CPU per
  checkout + query): ``SELECT 1`` 384 -> 247 (5 hops -> 1), the ORM posts page 1016 -> 844
  (6 -> 1), BEGIN IMMEDIATE + INSERT + COMMIT 817 -> 717 (8 -> 3). Each statement runs as ONE
  function on the worker thread (make a sqlite3 cursor, execute, capture description /
  rowcount / lastrowid, fetch every row, close the cursor); ``commit()``/``rollback()`` skip
  the hop when SQLite is not inside a transaction. Errors are the same sqlite3 exceptions
  SQLAlchemy's adapter raises, so they translate to the same ``sqlalchemy.exc`` types.

And ``give_back``, which returns a connection from ``AsyncEngine.raw_connection()`` (a
``Prepared`` statement run alone): at once when it is idle, else through SQLAlchemy's
greenlet, which its adapters need to await a rollback.

Private API used, each asserted by ``tests/test_upstream_contract.py``; both libraries are
pinned exactly (``pyproject.toml``), and a new version means re-checking this module:

- aiosqlite 0.22.1: ``Connection._execute(fn, *args)`` (queue ``fn`` on the worker thread),
  ``Connection._conn`` (the sqlite3 connection, read only on that thread) and
  ``Connection._thread`` (joined after a failed open; see ``AsyncAdapt_onehop_dbapi.connect``).
- SQLAlchemy 2.1.9: the pool's ``_queue_class`` and ``sqlalchemy.util.queue.AsyncAdaptedQueue``;
  ``sqlalchemy.util.concurrency.await_`` and ``greenlet_spawn``; the aiosqlite adapter classes of
  ``dialects/sqlite/aiosqlite.py`` and ``connectors/asyncio.py`` (``_execute_async``,
  ``_executemany_async``, ``_rows``, ``_execute_mutex``, ``_cursor_cls``,
  ``_soft_closed_memoized``, ``_awaitable_cursor_close``, ``_handle_exception``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_, greenlet_spawn
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, Full

from quart_blog.db.writers import WriterQueue, starts_write

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import _DBAPICursorDescription

# How long a failed open waits for aiosqlite's worker thread to stop (seconds).
THREAD_STOP_TIMEOUT = 10.0

# (description, rows, rowcount, lastrowid, in_transaction) of one finished statement.
_Outcome = tuple[Any, list[Any], int, Any, bool]


_T = TypeVar("_T")


class HandoffQueue(AsyncAdaptedQueue[_T]):
    """The pool's queue of idle connections, handing each one to the oldest waiter."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._idle: deque[_T] = deque()
        self._waiters: deque[asyncio.Future[_T]] = deque()

    def empty(self) -> bool:
        return not self._idle

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._idle)

    def qsize(self) -> int:
        return len(self._idle)

    def put_nowait(self, item: _T) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        if self.full():
            raise Full()
        self._idle.append(item)

    def put(self, item: _T, block: bool = True, timeout: float | None = None) -> None:
        # The pool only gives back connections it handed out, so there is always room.
        self.put_nowait(item)

    def get_nowait(self) -> _T:
        if not self._idle:
            raise Empty()
        return self._idle.pop() if self.use_lifo else self._idle.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> _T:
        # Idle connections exist only while nobody waits, so taking one never jumps the line.
        if self._idle or not block:
            return self.get_nowait()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        return await_(self._wait_for_handoff(loop.create_future(), deadline))

    async def _wait_for_handoff(self, waiter: asyncio.Future[_T], deadline: float | None) -> _T:
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                return await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                # Handed a connection just as we gave up: pass it to the next in line.
                self.put_nowait(waiter.result())
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):  # unless a put already skipped it
                    self._waiters.remove(waiter)
            if isinstance(error, TimeoutError):
                raise Empty() from error
            raise


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` whose waiters get connections in arrival order."""

    _queue_class = HandoffQueue[ConnectionPoolEntry]


def _run_statement(
    driver: aiosqlite.Connection, sql: str, params: Any, many: bool, writers: WriterQueue | None
) -> _Outcome:
    """Run one whole statement on the aiosqlite worker thread (the only thread touching sqlite3).

    The sqlite3 cursor never outlives this call, so a task cancelled while awaiting it
    cannot leave a cursor (or an unfinished SELECT holding a read snapshot) open.
    """
    conn = driver._conn
    if writers is not None:
        if not conn.in_transaction and starts_write(sql):
            writers.acquire()
        writers.note(sql)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, () if params is None else params)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        # rowcount is read after fetchall: for UPDATE ... RETURNING it grows while stepping.
        return description, rows, cursor.rowcount, cursor.lastrowid, conn.in_transaction
    finally:
        cursor.close()
        if writers is not None and not conn.in_transaction:
            writers.release()


def _commit_or_roll_back(
    driver: aiosqlite.Connection, commit: bool, writers: WriterQueue | None
) -> None:
    """COMMIT or ROLLBACK on the worker thread, then let the next writer in."""
    conn = driver._conn
    try:
        if commit:
            conn.commit()
        else:
            conn.rollback()
    finally:
        if writers is not None and not conn.in_transaction:
            writers.release()


class AsyncAdapt_onehop_cursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor: execute() is one worker-thread hop, fetches never hop."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")
    _awaitable_cursor_close = False  # nothing to soft-close: the sqlite3 cursor is gone
    _adapt_connection: AsyncAdapt_onehop_connection

    def __init__(self, adapt_connection: Any) -> None:
        # Unlike the base class, no aiosqlite cursor is made here (that was a hop of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: Any = None
        self._arraysize = 1

    @property
    def description(self) -> _DBAPICursorDescription | None:
        description: _DBAPICursorDescription | None = self._description
        return description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        lastrowid: int = self._lastrowid
        return lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> Any:
        adapt = self._adapt_connection
        async with adapt._execute_mutex:
            # Assume a transaction until the hop reports back: if it fails or this task is
            # cancelled mid-hop, rollback() must still go to the thread.
            adapt._in_tx = True
            outcome: _Outcome = await self._connection._execute(
                _run_statement, self._connection, operation, parameters, many, adapt._writers
            )
            self._description, rows, self._rowcount, self._lastrowid, adapt._in_tx = outcome
            self._rows = collections.deque(rows)
        return self


class AsyncAdapt_onehop_connection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection adapter with one-hop cursors and hop-free no-op ends."""

    __slots__ = ("_in_tx", "_writers")
    _cursor_cls = AsyncAdapt_onehop_cursor

    def __init__(self, dbapi: Any, connection: Any, writers: WriterQueue | None = None) -> None:
        super().__init__(dbapi, connection)
        self._in_tx = False  # SQLite's in_transaction after our last statement (True if unsure)
        self._writers = writers

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:  # stock multi-hop streaming cursor: its statements are not tracked
            self._in_tx = True
        return super().cursor(server_side)

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Run one statement from the event loop and return its rows (``quart_blog.db.prepared``).

        The same single hop as a cursor's execute, minus SQLAlchemy's greenlet and cursor.
        """
        async with self._execute_mutex:
            self._in_tx = True  # as in AsyncAdapt_onehop_cursor._run
            outcome: _Outcome = await self._connection._execute(
                _run_statement, self._connection, sql, parameters, False, self._writers
            )
            rows, self._in_tx = outcome[1], outcome[4]
        return rows

    def _maybe_in_transaction(self) -> bool:
        """Whether commit()/rollback() must hop to the worker thread.

        ``_in_tx`` was read on the worker thread after our last statement. aiosqlite's
        ``in_transaction`` also catches transactions begun through ``driver_connection``;
        it is a GIL-held read of ``sqlite3_get_autocommit`` (CPython does no thread check
        for that getter), only reached when no statement of ours can be in flight.
        """
        if self._in_tx:
            return True
        try:
            return bool(self._connection.in_transaction)
        except ValueError:  # already closed: nothing to end
            return False

    def rollback(self) -> None:
        if self._maybe_in_transaction():
            self._end_transaction(commit=False)

    def commit(self) -> None:
        if self._maybe_in_transaction():
            self._end_transaction(commit=True)

    def _end_transaction(self, *, commit: bool) -> None:
        try:
            await_(
                self._connection._execute(
                    _commit_or_roll_back, self._connection, commit, self._writers
                )
            )
        except Exception as error:
            self._handle_exception(error)
        self._in_tx = False

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._writers is not None:
                self._writers.close()
                self._writers = None


class AsyncAdapt_onehop_dbapi(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI shim, handing out one-hop connections."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_onehop_connection:
        """Open an aiosqlite connection; after a failed open, wait for its thread to end.

        aiosqlite's worker thread is not a daemon: a connection nobody closes keeps the
        process alive at exit, so the engine is disposed when serving stops. When the
        open itself fails (a missing directory, a file that is not a database), aiosqlite
        queues the thread's stop but does not wait for it; the thread then reports to an
        event loop that may be closed by then (``RuntimeError: Event loop is closed`` in
        the thread, seen under load in the suite). So we wait, off the loop.
        """
        creator_fn = kw.pop("async_creator_fn", None)
        connection = creator_fn(*arg, **kw) if creator_fn else self.aiosqlite.connect(*arg, **kw)
        try:
            opened = await_(connection)
        except BaseException:
            if isinstance(connection, aiosqlite.Connection):
                await_(asyncio.to_thread(connection._thread.join, THREAD_STOP_TIMEOUT))
            raise
        database = str(arg[0]) if arg else ""
        on_disk = database not in ("", ":memory:") and not kw.get("uri")
        writers = WriterQueue(database) if on_disk else None
        return AsyncAdapt_onehop_connection(self, opened, writers)


def give_back_idle(pooled: PoolProxiedConnection) -> bool:
    """Return a connection from ``AsyncEngine.raw_connection()`` now, if nothing is left to end.

    A one-hop SQLite connection outside a transaction goes back to the pool without a hop
    or a greenlet (its rollback on return is a no-op). Anything else is left to ``give_back``.
    """
    adapter = pooled.dbapi_connection
    if isinstance(adapter, AsyncAdapt_onehop_connection) and not adapter._maybe_in_transaction():
        pooled.close()
        return True
    return False


async def give_back(pooled: PoolProxiedConnection) -> None:
    """Return a connection from ``AsyncEngine.raw_connection()``, ending what it left open.

    The pool rolls a returned connection back; on a driver that must await for that (a
    SQLite statement that failed or was cancelled mid-hop, asyncpg) SQLAlchemy's adapters
    need the greenlet its own sessions and connections run in.
    """
    if not give_back_idle(pooled):
        await greenlet_spawn(pooled.close)


dbapi = AsyncAdapt_onehop_dbapi(aiosqlite, sqlite3)
"""Pass as ``create_async_engine("sqlite+aiosqlite:///...", module=dbapi)``."""
