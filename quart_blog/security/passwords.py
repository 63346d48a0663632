"""Password hashing with passlib's CryptContext, always off the event loop.

``bcrypt_sha256`` pre-hashes with HMAC-SHA256 (keyed by the salt) before
bcrypt, so every byte of a password up to SPEC's 1024 characters counts: no
silent truncation at 72 bytes. Plain ``bcrypt`` hashes still verify and are
upgraded on the next successful login.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from passlib.context import CryptContext
from quart import has_request_context, request

from quart_blog.wrappers import BlogRequest

SCHEMES = ["bcrypt_sha256", "bcrypt"]
T = TypeVar("T")
# Set by ``quart-blog serve`` for its worker processes (not a user setting).
WORKERS_ENV = "QUART_BLOG_WORKERS"


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a password; ``new_hash`` is set when the stored hash is stale."""

    ok: bool
    new_hash: str | None = None


def hash_threads() -> int:
    """Threads per worker: the cores shared out between the workers ``serve`` started.

    More hashing threads than cores only slows every login down together and
    takes CPU from the event loops that answer everything else.
    """
    workers = int(os.environ.get(WORKERS_ENV, "1") or 1)
    return max(1, (os.cpu_count() or 1) // max(1, workers))


class HasherBusy(Exception):
    """Too many password checks are queued; answered with 503 and ``Retry-After``."""


class PasswordHasher:
    """Hash and verify passwords on a small dedicated thread pool, never on the event loop.

    The pool shares the cores out between workers (``hash_threads``): bcrypt
    releases the GIL, so that is all the parallelism there is, and a dedicated
    pool keeps a login storm from starving anything else that uses the default
    executor. A check still queued when its client disconnects is dropped.
    Past ``max_queued`` waiting checks new ones are refused at once (503 with
    ``Retry-After``), a backstop against unbounded memory rather than a
    throttle: refusing early costs more CPU than queueing, because clients
    retry at once.
    """

    def __init__(self, rounds: int, *, threads: int | None = None, max_queued: int = 1024) -> None:
        self.context = CryptContext(
            schemes=SCHEMES,
            deprecated=["bcrypt"],
            bcrypt_sha256__rounds=rounds,
            bcrypt__rounds=rounds,
        )
        self.threads = threads or hash_threads()
        self.max_queued = max_queued
        self.pending = 0
        self.executor = ThreadPoolExecutor(
            self.threads, thread_name_prefix="password-hash", initializer=yield_to_event_loop
        )
        # Verified against when the username is unknown, so that answer takes as
        # long as a wrong password and does not reveal which usernames exist.
        self.dummy_hash = self.context.hash("dummy password for unknown users")

    async def run(self, function: Callable[..., T], *args: str) -> T:
        """Run one hashing call on the pool, or refuse if the queue is full."""
        if self.pending >= self.max_queued:
            raise HasherBusy
        self.pending += 1
        try:
            future = asyncio.get_running_loop().run_in_executor(self.executor, function, *args)
            if has_request_context() and isinstance(request, BlogRequest):
                # Still queued when the client leaves? Then it never runs.
                request.on_abandon(future.cancel)
            return await future
        finally:
            self.pending -= 1

    async def hash(self, password: str) -> str:
        """Hash a new password."""
        return await self.run(self.context.hash, password)

    async def verify(self, password: str, stored_hash: str | None) -> Verification:
        """Check ``password``; pass ``None`` for an unknown user to spend the same time."""
        if stored_hash is None:
            await self.run(self.context.verify, password, self.dummy_hash)
            return Verification(ok=False)
        ok, new_hash = await self.run(self.context.verify_and_update, password, stored_hash)
        return Verification(ok=bool(ok), new_hash=new_hash)

    def close(self) -> None:
        """Drop queued work and let the threads finish (when serving stops)."""
        self.executor.shutdown(wait=False, cancel_futures=True)


HASH_THREAD_NICENESS = 10


def yield_to_event_loop() -> None:
    """Run this hashing thread at a lower CPU priority than the worker's event loop.

    Hashes keep every core busy during a login storm; at equal priority the event
    loop waited its turn behind them and /healthz p99 reached 90 ms. Lower-priority
    hashing threads still get all the CPU the event loops leave over.
    Linux applies ``setpriority`` to the calling thread alone.
    """
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)
