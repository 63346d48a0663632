"""A connection pool that serves waiting requests first come, first served.

SQLAlchemy's asyncio pool queues on ``asyncio.Queue``, which lets a newcomer
barge: a connection returned to the pool wakes the longest waiter, but any
request that asks before that waiter runs takes the connection instead, and
the woken waiter goes back to the *end* of the line. With hundreds of
requests per worker waiting on a pool of 16, a few requests lose that race
again and again: p99 latency at 1024 connections was 4x the median.

Here a returned connection is handed straight to the oldest waiter, so a
connection only sits idle in the pool when nobody is waiting for one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import TypeVar

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, Full

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
