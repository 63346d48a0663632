"""What the private library API in ``quart_blog/db/connections.py`` buys, measured in-process.

    .venv/bin/python loadtest/private_api_costs.py [--rounds 3]

Prints three comparisons on a scratch SQLite file (interleaved rounds, medians):

- CPU per pool checkout + one query through SQLAlchemy's stock aiosqlite adapter and
  through the one-hop DBAPI (aiosqlite's ``_execute``/``_conn`` and SQLAlchemy's adapter
  internals);
- latency of 512 tasks sharing a 16-connection pool for 4 s, with SQLAlchemy's
  ``AsyncAdaptedQueuePool`` and with ``FairAsyncQueuePool`` (the pool's ``_queue_class``);
- CPU per statement run alone (``Prepared.run_alone``) through the public
  ``AsyncEngine.connect()`` and on a raw pooled connection handed back by ``give_back``
  (``greenlet_spawn`` when the return must await).

If an upgrade makes either difference vanish, the private use can go.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from quart_blog.db.connections import FairAsyncQueuePool, dbapi, give_back

QUERIES = {"SELECT 1": "SELECT 1", "20-row page": "SELECT id, v FROM t ORDER BY id DESC LIMIT 20"}
CHECKOUTS = 3000
TASKS, POOL, SECONDS = 512, 16, 4.0


def engine(path: Path, **options: Any) -> AsyncEngine:
    """An engine on ``path`` with the given pool/driver options."""
    return create_async_engine(f"sqlite+aiosqlite:///{path}", **options)


async def cpu_per_checkout(db: AsyncEngine) -> dict[str, float]:
    """Process CPU (all threads) per checkout + query + fetch, in microseconds."""
    async with db.begin() as connection:
        await connection.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v)"))
        await connection.execute(text("DELETE FROM t"))
        await connection.execute(text("INSERT INTO t (v) VALUES " + ",".join(["('x')"] * 20)))
    figures = {}
    for name, sql in QUERIES.items():
        for warm_up in (True, False):
            began = time.process_time()
            for _ in range(200 if warm_up else CHECKOUTS):
                async with db.connect() as connection:
                    (await connection.execute(text(sql))).all()
        figures[name] = (time.process_time() - began) / CHECKOUTS * 1e6
    return figures


async def shared_pool_latency(db: AsyncEngine) -> dict[str, float]:
    """p50 / p99 / max milliseconds of a checkout + query while TASKS tasks share the pool."""
    latencies: list[float] = []
    stop = time.monotonic() + SECONDS

    async def user() -> None:
        while time.monotonic() < stop:
            began = time.monotonic()
            async with db.connect() as connection:
                await connection.execute(text("SELECT 1"))
                await asyncio.sleep(0)  # a request does some work while it holds one
            latencies.append(time.monotonic() - began)

    await asyncio.gather(*(user() for _ in range(TASKS)))
    latencies.sort()

    def at(share: float) -> float:
        return latencies[int(share * (len(latencies) - 1))] * 1000

    return {"p50 ms": at(0.5), "p99 ms": at(0.99), "max ms": latencies[-1] * 1000}


async def cpu_per_statement_alone(db: AsyncEngine) -> dict[str, float]:
    """Process CPU per page fetched alone on the one-hop driver, in microseconds."""
    await cpu_per_checkout(db)  # creates and fills the table (and warms the pool)
    sql = QUERIES["20-row page"]

    async def through_connection() -> None:
        async with db.connect() as connection:
            raw = await connection.get_raw_connection()
            await raw.dbapi_connection.fetch(sql, ())

    async def on_raw_connection() -> None:
        pooled = await db.raw_connection()
        await pooled.dbapi_connection.fetch(sql, ())
        await give_back(pooled)

    figures = {}
    for name, fetch_alone in (
        ("AsyncConnection", through_connection),
        ("raw + give_back", on_raw_connection),
    ):
        for warm_up in (True, False):
            began = time.process_time()
            for _ in range(200 if warm_up else CHECKOUTS):
                await fetch_alone()
        figures[name] = (time.process_time() - began) / CHECKOUTS * 1e6
    return figures


async def compare(
    title: str,
    variants: dict[str, dict[str, Any]],
    measure: Callable[[AsyncEngine], Any],
    rounds: int,
    path: Path,
) -> None:
    """Run each variant ``rounds`` times in turn and print the medians."""
    seen: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for name, options in variants.items():
            db = engine(path, **options)
            try:
                for key, value in (await measure(db)).items():
                    seen.setdefault((name, key), []).append(value)
            finally:
                await db.dispose()
    print(f"\n{title}")
    for (name, key), values in seen.items():
        spread = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {name:34s} {key:12s} {statistics.median(values):8.1f}  ({spread})")


async def main(rounds: int) -> None:
    """The three comparisons on a scratch database."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "costs.db"
        pool = {"poolclass": FairAsyncQueuePool, "pool_size": 4, "max_overflow": 0}
        await compare(
            "CPU µs per checkout + query (SQLAlchemy's adapter vs one hop)",
            {"stock aiosqlite adapter": pool, "one-hop DBAPI": {**pool, "module": dbapi}},
            cpu_per_checkout,
            rounds,
            path,
        )
        shared = {"module": dbapi, "pool_size": POOL, "max_overflow": 0, "pool_timeout": 60}
        await compare(
            f"{TASKS} tasks on a pool of {POOL} for {SECONDS:.0f} s (barging vs first come)",
            {
                "AsyncAdaptedQueuePool": {**shared, "poolclass": AsyncAdaptedQueuePool},
                "FairAsyncQueuePool": {**shared, "poolclass": FairAsyncQueuePool},
            },
            shared_pool_latency,
            rounds,
            path,
        )
        await compare(
            "CPU µs per statement run alone (public AsyncConnection vs raw + give_back)",
            {"one-hop DBAPI": {**pool, "module": dbapi}},
            cpu_per_statement_alone,
            rounds,
            path,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (1-10)")
    args = parser.parse_args()
    asyncio.run(main(max(1, min(10, args.rounds))))
