"""The one-hop aiosqlite driver (``quart_blog.db.connections``) and its writers' queue.

What counts as a write, that the writers' lock is always let go (after success, an error,
a rollback and a cancellation), ``executemany`` and row counts of ``RETURNING`` statements.
"""

from __future__ import annotations

import asyncio
import fcntl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from quart_blog.db.engine import BEGIN_MODE, create_engine
from quart_blog.db.writers import starts_write


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The app's kind of SQLite engine on a table of its own."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"))
    yield engine
    await engine.dispose()


@contextmanager
def writer_lock_free(tmp_path: Path) -> Iterator[None]:
    """Assert that nobody holds ``<database>-writer`` (flock from a second open file)."""
    with open(tmp_path / "driver.db-writer", "a+b") as other:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pytest.fail("the writers' lock is still held")
        fcntl.flock(other, fcntl.LOCK_UN)
        yield


@contextmanager
def writer_lock_held(tmp_path: Path) -> Iterator[None]:
    """Assert that someone holds ``<database>-writer``."""
    with (
        open(tmp_path / "driver.db-writer", "a+b") as other,
        pytest.raises(BlockingIOError),
    ):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    yield


async def names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT name FROM items ORDER BY id"))
        return [row[0] for row in rows]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO items (name) VALUES ('a')",
        "  insert into items (name) values ('a')",
        "UPDATE items SET name = 'b'",
        "DELETE FROM items",
        "REPLACE INTO items (id, name) VALUES (1, 'a')",
        "BEGIN IMMEDIATE",
        "begin exclusive",
    ],
)
def test_writes_are_recognised_by_their_first_words(sql: str) -> None:
    assert starts_write(sql)


@pytest.mark.parametrize(
    "sql",
    ["SELECT 1", "BEGIN", "BEGIN DEFERRED", "PRAGMA journal_mode", "COMMIT", "ROLLBACK", ""],
)
def test_reads_and_other_statements_take_no_turn(sql: str) -> None:
    assert not starts_write(sql)


async def test_the_writers_lock_is_let_go_after_a_write(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO items (name) VALUES ('a')"))
        with writer_lock_free(tmp_path):  # an autocommitted write ends with its statement
            await connection.commit()
    assert await names(engine) == ["a"]


async def test_the_writers_lock_is_let_go_after_a_failing_write(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO items (id, name) VALUES (1, 'a')"))
        await connection.commit()
        with pytest.raises(IntegrityError):
            await connection.execute(text("INSERT INTO items (id, name) VALUES (1, 'again')"))
        with writer_lock_free(tmp_path), pytest.raises(OperationalError):
            await connection.execute(text("INSERT INTO no_such_table VALUES (1)"))
        with writer_lock_free(tmp_path):
            await connection.rollback()
    assert await names(engine) == ["a"]


async def test_the_writers_lock_is_held_for_a_whole_transaction_then_let_go(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.connect() as connection:
        await connection.execution_options(**{BEGIN_MODE: "IMMEDIATE"})
        async with connection.begin():
            await connection.execute(text("INSERT INTO items (name) VALUES ('a')"))
            with writer_lock_held(tmp_path):
                pass
        with writer_lock_free(tmp_path):  # COMMIT let it go
            assert not connection.in_transaction()
    assert await names(engine) == ["a"]


async def test_a_transaction_cancelled_mid_way_rolls_back_and_lets_go(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    inside = asyncio.Event()

    async def write_then_wait() -> None:
        async with engine.connect() as connection:
            await connection.execution_options(**{BEGIN_MODE: "IMMEDIATE"})
            async with connection.begin():
                await connection.execute(text("INSERT INTO items (name) VALUES ('lost')"))
                inside.set()
                await asyncio.Event().wait()  # until cancelled

    task = asyncio.ensure_future(write_then_wait())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with writer_lock_free(tmp_path):
        assert await names(engine) == []
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert not raw.driver_connection.in_transaction  # returned to the pool clean


async def test_a_statement_cancelled_on_the_thread_still_finishes_cleanly(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Cancelling the awaiting task cannot stop the worker thread: the statement completes
    there and lets the lock go, and the next statement on the connection works."""
    async with engine.connect() as connection:
        write = asyncio.ensure_future(
            connection.execute(text("INSERT INTO items (name) VALUES ('racing')"))
        )
        await asyncio.sleep(0)
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
        await connection.rollback()
    with writer_lock_free(tmp_path):
        assert await names(engine) in ([], ["racing"])  # committed alone, or never ran


async def test_executemany_runs_every_parameter_set(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        result = await connection.execute(
            text("INSERT INTO items (name) VALUES (:name)"),
            [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        )
        assert result.rowcount == 3
        await connection.commit()
    assert await names(engine) == ["a", "b", "c"]


async def test_returning_statements_count_every_row(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        for name in ("a", "b", "c"):
            await connection.execute(text("INSERT INTO items (name) VALUES (:n)"), {"n": name})
        updated = await connection.execute(
            text("UPDATE items SET name = name || '!' WHERE name != 'b' RETURNING id, name")
        )
        assert sorted(row.name for row in updated) == ["a!", "c!"]
        assert updated.rowcount == 2
        deleted = await connection.execute(text("DELETE FROM items RETURNING id"))
        assert len(deleted.all()) == 3
        assert deleted.rowcount == 3
        await connection.commit()
    assert await names(engine) == []


def aiosqlite_threads() -> list[threading.Thread]:
    return [
        thread
        for thread in threading.enumerate()
        if thread.name.endswith("(_connection_worker_thread)") and thread.is_alive()
    ]


async def test_a_failed_open_leaves_no_thread_behind(tmp_path: Path) -> None:
    """aiosqlite stops its thread after a failed open without waiting; the driver waits, so
    the thread cannot report to this test's loop after it has closed."""
    before = aiosqlite_threads()
    # A directory is no database file: SQLite cannot open it.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}")
    try:
        with pytest.raises(OperationalError):
            async with engine.connect():
                pass
        assert aiosqlite_threads() == before  # already ended: no join, no sleep here
    finally:
        await engine.dispose()
