"""A one-hop-per-statement aiosqlite DBAPI for ``create_async_engine(url, module=dbapi)``.

Why this exists: SQLAlchemy's aiosqlite adapter (``sqlalchemy.dialects.sqlite.aiosqlite`` on
top of ``sqlalchemy.connectors.asyncio``) sends every statement through aiosqlite's worker
thread four or five times (cursor(), execute, fetchall, cursor close) and adds a ROLLBACK hop
on every pool return, even with no transaction open. Each hop is a queue put, a thread wake-up
and a ``call_soon_threadsafe`` back to the loop, ~30 µs of CPU on the 2-core box. Measured
(µs of CPU per checkout + query, see docs/PERFORMANCE.md): ``SELECT 1`` 384 -> 247 (5 hops ->
1), the ORM posts page 1016 -> 844 (6 -> 1), BEGIN IMMEDIATE + INSERT + COMMIT 817 -> 717 (8 ->
3). The rest is SQLAlchemy itself, which this module does not touch.

This module keeps aiosqlite (its ``Connection`` and worker thread) and SQLAlchemy's adapter
classes, but runs each statement as ONE function on the worker thread: make a sqlite3 cursor,
execute, capture description/rowcount/lastrowid, fetch every row, close the cursor. The cursor
then serves fetches from that buffer. ``commit()``/``rollback()`` skip the hop when SQLite is
not inside a transaction. Errors are the same sqlite3 exceptions SQLAlchemy's adapter raises,
so they translate to the same ``sqlalchemy.exc`` types.

Writers also queue on a file lock beside the database (``WriterQueue``) instead of
sleeping in SQLite's busy handler: write p99 at 64 connections ~1 s -> 160 ms.

Relies on private API, checked against aiosqlite 0.22.1 and SQLAlchemy 2.1.9 (pin both minor
versions): aiosqlite's ``Connection._execute(fn, *args)`` (queue ``fn`` to the worker thread),
``._conn``, ``._connection`` and ``._thread``; and the cursor internals of SQLAlchemy's
``connectors/asyncio.py`` (``_execute_async``, ``_rows``, ``_execute_mutex``).
"""

from __future__ import annotations

import collections
import fcntl
import os
import sqlite3
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

if not hasattr(aiosqlite.Connection, "_execute"):  # fail at import, not at the first query
    raise ImportError("quart_blog.sqlite_driver needs aiosqlite's Connection._execute (0.22)")

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import _DBAPICursorDescription

# (description, rows, rowcount, lastrowid, in_transaction) of one finished statement.
_Outcome = tuple[Any, list[Any], int, Any, bool]


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")
WRITE_HEAD = max(len(word) for word in WRITES)


class WriterQueue:
    """Writers of every process and connection take turns on one ``flock``, not in busy_timeout.

    When SQLite's write lock is taken, its busy handler sleeps 1, 2, 5 ... 100 ms
    between retries, so writers of two workers colliding at a few hundred writes
    a second waited in sleeps (write p99 about 1 s at 64 connections). A blocking
    ``flock`` on ``<database>-writer`` wakes the next writer as soon as the lock
    is free. It is taken on the connection's own worker thread (never on the event
    loop), just before a write starts and released when it ends: after the
    statement for a single autocommitted write, at COMMIT or ROLLBACK for a
    ``BEGIN IMMEDIATE`` transaction. Correctness never depends on it: a writer
    that does not take it (a migration, the CLI) still meets SQLite's own lock.
    """

    # One turn-taker per process and database: flock wakes every waiter at each unlock,
    # so the pooled connections of a process queue on a thread lock first, and at most
    # one thread per process waits on the flock.
    _in_process: ClassVar[dict[str, threading.Lock]] = {}

    def __init__(self, database: str) -> None:
        self.fd = os.open(f"{database}-writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.turn = self._in_process.setdefault(os.path.realpath(database), threading.Lock())
        self.held = False

    def acquire(self) -> None:
        self.turn.acquire()
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.turn.release()
            raise
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                self.turn.release()

    def close(self) -> None:
        self.release()
        os.close(self.fd)


def starts_write(sql: str) -> bool:
    """Whether the statement takes SQLite's write lock (only its first words are looked at)."""
    return sql.lstrip()[:WRITE_HEAD].upper().startswith(WRITES)


def _run_statement(
    driver: aiosqlite.Connection, sql: str, params: Any, many: bool, writers: WriterQueue | None
) -> _Outcome:
    """Run one whole statement on the aiosqlite worker thread (the only thread touching sqlite3).

    The sqlite3 cursor never outlives this call, so a task cancelled while awaiting it
    cannot leave a cursor (or an unfinished SELECT holding a read snapshot) open.
    """
    conn = driver._conn
    if writers is not None and not conn.in_transaction and starts_write(sql):
        writers.acquire()
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
        """Run one statement from the event loop and return its rows (``quart_blog.prepared``).

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

        ``_in_tx`` was read on the worker thread after our last statement. The direct read
        of ``in_transaction`` also catches transactions begun through ``driver_connection``;
        it is a GIL-held read of ``sqlite3_get_autocommit`` (CPython does no thread check
        for that getter), only reached when no statement of ours can be in flight.
        """
        driver: sqlite3.Connection | None = self._connection._connection
        return self._in_tx or (driver is not None and driver.in_transaction)

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
        creator_fn = kw.pop("async_creator_fn", None)
        if creator_fn:
            connection = creator_fn(*arg, **kw)
        else:
            connection = self.aiosqlite.connect(*arg, **kw)
            connection._thread.daemon = True  # as SQLAlchemy does; dispose() still closes it
        database = str(arg[0]) if arg else ""
        on_disk = database not in ("", ":memory:") and not kw.get("uri")
        writers = WriterQueue(database) if on_disk else None
        return AsyncAdapt_onehop_connection(self, await_(connection), writers)


dbapi = AsyncAdapt_onehop_dbapi(aiosqlite, sqlite3)
"""Pass as ``create_async_engine("sqlite+aiosqlite:///...", module=dbapi)``."""
