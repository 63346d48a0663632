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
from quart import Quart, current_app, has_request_context, request

from quart_blog.config import get_settings
from quart_blog.serving.requests import BlogRequest

SCHEMES = ["bcrypt_sha256", "bcrypt"]
EXTENSION_KEY = "quart_blog.passwords"
# How much lower than its event loop a hashing thread runs (a nice increment).
HASH_THREAD_NICENESS = 10
T = TypeVar("T")


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a password; ``new_hash`` is set when the stored hash is stale."""

    ok: bool
    new_hash: str | None = None


def hash_threads(workers: int) -> int:
    """Threads per worker: the cores shared out between the server's workers.

    More hashing threads than cores only slows every login down together and
    takes CPU from the event loops that answer everything else.
    """
    return max(1, (os.cpu_count() or 1) // max(1, workers))


class HasherBusy(Exception):
    """Too many password checks are queued; answered with 503 and ``Retry-After``."""


class PasswordHasher:
    """Hash and verify passwords on a small dedicated thread pool, never on the event loop.

    bcrypt releases the GIL, so one thread per core is all the parallelism there
    is, and a dedicated pool keeps a login storm from starving anything else
    that uses the default executor. A check still queued when its client
    disconnects is dropped. Past ``max_queued`` waiting checks new ones are
    refused at once (503 with ``Retry-After``), a backstop against unbounded
    memory rather than a throttle: refusing early costs more CPU than queueing,
    because clients retry at once.
    """

    def __init__(self, rounds: int, *, threads: int = 1, max_queued: int = 1024) -> None:
        self.context = CryptContext(
            schemes=SCHEMES,
            deprecated=["bcrypt"],
            bcrypt_sha256__rounds=rounds,
            bcrypt__rounds=rounds,
        )
        self.threads = threads
        self.max_queued = max_queued
        self.pending = 0
        self.executor = ThreadPoolExecutor(
            threads, thread_name_prefix="password-hash", initializer=yield_to_event_loop
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
            queued = self.executor.submit(function, *args)
            if has_request_context() and isinstance(request, BlogRequest):
                # Still queued when the client leaves? Cancelled there and then (not on
                # a later loop turn), so a free thread can never pick it up first.
                request.on_abandon(queued.cancel)
            return await asyncio.wrap_future(queued)
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


def yield_to_event_loop() -> None:
    """Run this hashing thread ``HASH_THREAD_NICENESS`` below the worker's event loop.

    Hashes keep every core busy during a login storm; at equal priority the event
    loop waited its turn behind them and /healthz p99 reached 90 ms. Lower-priority
    hashing threads still get all the CPU the event loops leave over. A new thread
    starts at its creator's niceness, and Linux applies ``setpriority`` to the
    calling thread alone.
    """
    thread = threading.get_native_id()
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, current + HASH_THREAD_NICENESS)


def init_app(app: Quart, *, workers: int = 1) -> None:
    """Give ``app`` a hasher sized for ``workers`` server processes, closed when serving stops."""
    hasher = PasswordHasher(get_settings(app).bcrypt_rounds, threads=hash_threads(workers))
    app.extensions[EXTENSION_KEY] = hasher

    @app.after_serving
    async def close_hasher() -> None:
        hasher.close()


def get_hasher(app: Quart | None = None) -> PasswordHasher:
    """The password hasher of ``app`` (default: the running app)."""
    hasher: PasswordHasher = (app or current_app).extensions[EXTENSION_KEY]
    return hasher
