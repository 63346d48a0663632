"""The private API of other libraries that ``quart_blog.db.connections`` relies on.

That module is the only code below SQLAlchemy's and aiosqlite's public API (see its
docstring for why each use pays for itself). Both libraries are pinned exactly in
``pyproject.toml``. When one of these tests fails after an upgrade, re-read the named
upstream code and ``quart_blog/db/connections.py`` together before changing either pin.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from importlib.metadata import version
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy.connectors import asyncio as sa_asyncio_connector
from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import concurrency, queue

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@pytest.mark.parametrize(
    ("distribution", "pinned"), [("aiosqlite", "0.22.1"), ("sqlalchemy", "2.1.9")]
)
def test_the_installed_version_is_the_pinned_one(distribution: str, pinned: str) -> None:
    assert version(distribution) == pinned, (
        f"{distribution} {version(distribution)} is installed, quart_blog/db/connections.py "
        f"was checked against {pinned}: re-check it, then move the pin"
    )
    assert f'{distribution}=={pinned}"' in PYPROJECT.read_text().replace("[asyncio]", ""), (
        f"pyproject.toml must pin {distribution}=={pinned} exactly"
    )


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_aiosqlite_runs_a_function_on_its_worker_thread() -> None:
    execute = aiosqlite.Connection._execute
    assert inspect.iscoroutinefunction(execute), "aiosqlite Connection._execute is no coroutine"
    assert parameters(execute) == ["self", "fn", "args", "kwargs"], (
        "aiosqlite Connection._execute(fn, *args, **kwargs) changed: _run_statement and "
        "_commit_or_roll_back are queued through it"
    )
    assert isinstance(inspect.getattr_static(aiosqlite.Connection, "_conn"), property), (
        "aiosqlite Connection._conn (the sqlite3 connection) is gone"
    )
    assert isinstance(inspect.getattr_static(aiosqlite.Connection, "in_transaction"), property)
    unstarted = aiosqlite.Connection(lambda: None, 64)  # type: ignore[arg-type, return-value]
    assert isinstance(unstarted._thread, threading.Thread), (
        "aiosqlite Connection._thread (joined after a failed open) is gone"
    )
    assert not unstarted._thread.is_alive()
    assert "self.stop()" in inspect.getsource(aiosqlite.Connection._connect), (
        "aiosqlite's failed open no longer stops its thread the same way: re-check "
        "AsyncAdapt_onehop_dbapi.connect, which waits for that thread"
    )


async def test_aiosqlite_execute_runs_on_the_worker_thread(tmp_path: Path) -> None:
    """``_execute`` must call the function on the connection's own thread, in order."""
    connection = await aiosqlite.connect(tmp_path / "contract.db")
    try:
        seen: list[str] = []

        def on_worker(name: str) -> str:
            seen.append(name)
            return connection._conn.execute("SELECT sqlite_version()").fetchone()[0]

        versions = await asyncio.gather(*(connection._execute(on_worker, n) for n in "abc"))
        assert seen == ["a", "b", "c"]
        assert len(set(versions)) == 1
    finally:
        await connection.close()


def test_sqlalchemy_pool_takes_its_queue_class() -> None:
    assert issubclass(AsyncAdaptedQueuePool._queue_class, queue.AsyncAdaptedQueue), (
        "AsyncAdaptedQueuePool no longer builds its queue from _queue_class: "
        "FairAsyncQueuePool's HandoffQueue would be ignored"
    )
    assert parameters(queue.AsyncAdaptedQueue.__init__) == ["self", "maxsize", "use_lifo"]
    for name in ("get", "put", "get_nowait", "put_nowait", "empty", "full", "qsize"):
        assert callable(getattr(queue.AsyncAdaptedQueue, name)), f"AsyncAdaptedQueue.{name}"
    assert parameters(queue.AsyncAdaptedQueue.get) == ["self", "block", "timeout"]
    assert callable(concurrency.await_), "sqlalchemy.util.concurrency.await_ is gone"
    assert inspect.iscoroutinefunction(concurrency.greenlet_spawn), "greenlet_spawn is gone"
    assert parameters(concurrency.greenlet_spawn)[:2] == ["fn", "args"]


def test_sqlalchemy_aiosqlite_adapter_internals() -> None:
    cursor = sa_aiosqlite.AsyncAdapt_aiosqlite_cursor
    connection = sa_aiosqlite.AsyncAdapt_aiosqlite_connection
    base_cursor = sa_asyncio_connector.AsyncAdapt_dbapi_cursor
    assert issubclass(cursor, base_cursor)
    for name in ("_adapt_connection", "_connection", "_rows", "_soft_closed_memoized"):
        assert name in base_cursor.__slots__, f"AsyncAdapt_dbapi_cursor.{name} is gone"
    assert base_cursor._awaitable_cursor_close is True
    for name in ("_execute_async", "_executemany_async"):
        method = getattr(cursor, name)
        assert inspect.iscoroutinefunction(method), f"{name} is no coroutine"
        assert len(parameters(method)) == 3, f"{name}(operation, parameters) changed"
    # execute() and executemany() must still run the coroutines above through await_.
    assert "_execute_async" in inspect.getsource(base_cursor.execute)
    assert "_executemany_async" in inspect.getsource(base_cursor.executemany)
    slots = {name for klass in connection.__mro__ for name in getattr(klass, "__slots__", ())}
    assert "_execute_mutex" in slots, "AsyncAdapt_dbapi_connection._execute_mutex is gone"
    assert connection._cursor_cls is cursor
    assert callable(connection._handle_exception)
    assert parameters(sa_aiosqlite.AsyncAdapt_aiosqlite_dbapi.connect) == ["self", "arg", "kw"]
