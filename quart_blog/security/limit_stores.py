"""Rate-limit stores that every Hypercorn worker (and every instance) sees.

Quart-Rate-Limiter's default ``MemoryStore`` is a dict per process, so with N
workers a client gets N times the limit. The default here keeps the GCRA
"theoretical arrival times" in the app's own database (the ``rate_limits``
table), which all workers on a machine — and all instances on one PostgreSQL
— share with no extra service. With ``REDIS_URL`` they live in Redis with a
TTL, so keys expire by themselves.

Besides Quart-Rate-Limiter's get/set, both stores offer an atomic
``consume``: read-modify-write in one statement/script, so parallel login
attempts cannot all slip through before any of them is counted; and an atomic
``refund``, which takes one counted event back (a password attempt that proved
right is no failure) without forgetting the others.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from quart_rate_limiter.store import RateLimiterStoreABC
from redis import asyncio as aioredis
from sqlalchemy import Float, String, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from quart_blog import clock
from quart_blog.db import Base, get_database

# One set() in this many also sweeps expired rows, keeping the table small.
SWEEP_ONE_IN = 200


class RateLimitEntry(Base):
    """A rate-limit key's GCRA theoretical arrival time (Unix seconds), shared by all workers."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)


class LimitStore(RateLimiterStoreABC):
    """A store with the atomic operations the login throttle needs."""

    async def consume(self, key: str, now: float, inverse: float, ceiling: float) -> float:
        """Advance ``key``'s arrival time by ``inverse`` (at most to ``ceiling``) atomically.

        Returns the new arrival time. The ceiling keeps a client that hammers on
        while refused from pushing its own lockout out forever.
        """
        raise NotImplementedError

    async def reset(self, key: str) -> None:
        """Forget ``key`` (a successful login clears its failures)."""
        raise NotImplementedError

    async def refund(self, key: str, now: float, inverse: float) -> None:
        """Move ``key``'s arrival time back by ``inverse`` (not before ``now``) atomically.

        Undoes one ``consume`` and nothing more: the events counted before it stay.
        """
        raise NotImplementedError


class DatabaseStore(LimitStore):
    """Arrival times in the ``rate_limits`` table of the app's database."""

    async def before_serving(self) -> None:
        """The app's engine is opened by ``quart_blog.db``; nothing to do."""

    async def after_serving(self) -> None:
        """Nothing to close."""

    async def get(self, key: str, default: datetime) -> datetime:
        async with get_database().engine.connect() as connection:
            result = await connection.execute(
                select(RateLimitEntry.tat).where(RateLimitEntry.key == key)
            )
            tat = result.scalar_one_or_none()
        return default if tat is None else datetime.fromtimestamp(tat, UTC)

    async def set(self, key: str, tat: datetime) -> None:
        await self._upsert(key, tat.timestamp(), None)

    async def consume(self, key: str, now: float, inverse: float, ceiling: float) -> float:
        return await self._upsert(key, now + inverse, (now, inverse, ceiling))

    async def reset(self, key: str) -> None:
        async with get_database().writing(), get_database().engine.begin() as connection:
            await connection.execute(delete(RateLimitEntry).where(RateLimitEntry.key == key))

    async def refund(self, key: str, now: float, inverse: float) -> None:
        engine = get_database().engine
        greatest = func.greatest if engine.dialect.name == "postgresql" else func.max
        statement = (
            update(RateLimitEntry)
            .where(RateLimitEntry.key == key)
            .values(tat=greatest(RateLimitEntry.tat - inverse, now))
        )
        async with get_database().writing(), engine.begin() as connection:
            await connection.execute(statement)

    async def _upsert(
        self, key: str, value: float, advance: tuple[float, float, float] | None
    ) -> float:
        """Insert or update in one statement; with ``advance`` the new value is computed in SQL."""
        engine = get_database().engine
        postgres = engine.dialect.name == "postgresql"
        insert = pg_insert if postgres else sqlite_insert
        greatest, least = (func.greatest, func.least) if postgres else (func.max, func.min)
        inserting = insert(RateLimitEntry).values(key=key, tat=value)
        if advance is None:
            new_value: Any = inserting.excluded.tat
        else:
            now, inverse, ceiling = advance
            new_value = least(greatest(RateLimitEntry.tat, now) + inverse, ceiling)
        statement = inserting.on_conflict_do_update(
            index_elements=[RateLimitEntry.key], set_={"tat": new_value}
        ).returning(RateLimitEntry.tat)
        async with get_database().writing(), engine.begin() as connection:
            stored = (await connection.execute(statement)).scalar_one()
            if random.randrange(SWEEP_ONE_IN) == 0:  # noqa: S311 (not security-relevant)
                cutoff = clock.timestamp()
                await connection.execute(delete(RateLimitEntry).where(RateLimitEntry.tat < cutoff))
        return float(stored)


# Times go to and from Redis as "%.17g" text: Lua's tostring keeps only 14 digits, which
# moves a Unix time by up to 0.00005 s and can refuse an attempt right at the limit.
# KEYS[1]: the key; ARGV: now, inverse, ceiling. The GCRA step of the SQL above, atomically.
CONSUME_SCRIPT = """
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local tat = math.min(math.max(stored, now) + tonumber(ARGV[2]), tonumber(ARGV[3]))
local text = string.format('%.17g', tat)
redis.call('SET', KEYS[1], text, 'PX', math.ceil((tat - now) * 1000) + 1000)
return text
"""

# KEYS[1]: the key; ARGV: now, inverse. One consume taken back; a key left limiting nothing goes.
REFUND_SCRIPT = """
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local now = tonumber(ARGV[1])
local tat = math.max(tonumber(stored) - tonumber(ARGV[2]), now)
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  local text = string.format('%.17g', tat)
  redis.call('SET', KEYS[1], text, 'PX', math.ceil((tat - now) * 1000) + 1000)
end
return 1
"""


class RedisLimitStore(LimitStore):
    """Arrival times in Redis, each key expiring once it no longer limits anything."""

    def __init__(self, url: str, prefix: str = "quart-blog:limits:") -> None:
        self.url = url
        self.prefix = prefix
        self._redis: aioredis.Redis | None = None

    @property
    def redis(self) -> aioredis.Redis:
        """The connected client (connected when serving starts)."""
        if self._redis is None:
            raise RuntimeError("RedisLimitStore used before serving started")
        return self._redis

    async def before_serving(self) -> None:
        self._redis = aioredis.from_url(self.url)

    async def after_serving(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def get(self, key: str, default: datetime) -> datetime:
        value = await self.redis.get(self.prefix + key)
        return default if value is None else datetime.fromtimestamp(float(value), UTC)

    async def set(self, key: str, tat: datetime) -> None:
        ttl_ms = max(1, int((tat.timestamp() - clock.timestamp()) * 1000) + 1000)
        await self.redis.set(self.prefix + key, tat.timestamp(), px=ttl_ms)

    async def consume(self, key: str, now: float, inverse: float, ceiling: float) -> float:
        script = self.redis.eval(CONSUME_SCRIPT, 1, self.prefix + key, now, inverse, ceiling)
        return float(await script)

    async def reset(self, key: str) -> None:
        await self.redis.delete(self.prefix + key)

    async def refund(self, key: str, now: float, inverse: float) -> None:
        await self.redis.eval(REFUND_SCRIPT, 1, self.prefix + key, now, inverse)
