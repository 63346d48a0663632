"""The pool hands connections to waiting requests in arrival order (``db.connections``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from quart_blog.db.connections import FairAsyncQueuePool


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A one-connection pool, so every other user has to wait in line."""
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}",
        poolclass=FairAsyncQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=5,
    )
    yield engine
    await engine.dispose()


async def checkout(engine: AsyncEngine) -> AsyncConnection:
    return await engine.connect()


async def use_connection(engine: AsyncEngine, name: str, served: list[str]) -> None:
    async with engine.connect() as connection:
        served.append(name)
        await connection.execute(text("SELECT 1"))


async def test_waiters_are_served_first_come_first_served(engine: AsyncEngine) -> None:
    served: list[str] = []
    holder = await engine.connect()
    waiters = []
    for name in ("first", "second", "third"):
        waiters.append(asyncio.create_task(use_connection(engine, name, served)))
        await asyncio.sleep(0.01)  # each is queued before the next arrives
    await holder.close()
    # A newcomer asking right after the release, before the woken waiter has run,
    # must not take the connection (asyncio.Queue would let it).
    late = asyncio.create_task(use_connection(engine, "late", served))
    await asyncio.wait_for(asyncio.gather(*waiters, late), 10)
    assert served == ["first", "second", "third", "late"]


async def test_a_waiter_that_times_out_leaves_the_line_without_a_connection(
    engine: AsyncEngine,
) -> None:
    engine.pool._timeout = 0.05  # type: ignore[attr-defined]
    holder = await engine.connect()
    with pytest.raises(PoolTimeout):
        await engine.connect()
    await holder.close()
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT 1"))).scalar() == 1


async def test_a_cancelled_waiter_does_not_swallow_the_connection(engine: AsyncEngine) -> None:
    holder = await engine.connect()
    cancelled = asyncio.create_task(checkout(engine))
    served: list[str] = []
    behind = asyncio.create_task(use_connection(engine, "behind", served))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await holder.close()
    await asyncio.wait_for(behind, 5)
    assert served == ["behind"]
    with pytest.raises(asyncio.CancelledError):
        await cancelled


async def test_a_connection_handed_over_as_its_waiter_is_cancelled_goes_to_the_next(
    engine: AsyncEngine,
) -> None:
    holder = await engine.connect()
    unlucky = asyncio.create_task(checkout(engine))
    served: list[str] = []
    behind = asyncio.create_task(use_connection(engine, "behind", served))
    await asyncio.sleep(0.01)
    await holder.close()  # hands the connection to ``unlucky``'s waiter ...
    unlucky.cancel()  # ... which is cancelled before it could run
    result = await asyncio.gather(unlucky, return_exceptions=True)
    if isinstance(result[0], AsyncConnection):  # it ran first after all: give it back
        await result[0].close()
    await asyncio.wait_for(behind, 5)
    assert served == ["behind"]
