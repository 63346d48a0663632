"""Password hashing with passlib's CryptContext, always off the event loop.

``bcrypt_sha256`` pre-hashes with HMAC-SHA256 (keyed by the salt) before
bcrypt, so every byte of a password up to SPEC's 1024 characters counts: no
silent truncation at 72 bytes. Plain ``bcrypt`` hashes still verify and are
upgraded on the next successful login.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from passlib.context import CryptContext

SCHEMES = ["bcrypt_sha256", "bcrypt"]
T = TypeVar("T")


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a password; ``new_hash`` is set when the stored hash is stale."""

    ok: bool
    new_hash: str | None = None


class HasherBusy(Exception):
    """Too many password checks are queued; answered with 503 and ``Retry-After``."""


class PasswordHasher:
    """Hash and verify passwords on a small dedicated thread pool, never on the event loop.

    The pool has one thread per core: bcrypt releases the GIL, so that is all
    the parallelism there is, and a dedicated pool keeps a login storm from
    starving anything else that uses the default executor. Past
    ``max_queued`` waiting checks, new ones are refused at once (503 with
    ``Retry-After``) instead of queueing minutes of CPU work behind a storm.
    """

    def __init__(self, rounds: int, *, threads: int | None = None, max_queued: int = 0) -> None:
        self.context = CryptContext(
            schemes=SCHEMES,
            deprecated=["bcrypt"],
            bcrypt_sha256__rounds=rounds,
            bcrypt__rounds=rounds,
        )
        self.threads = threads or os.cpu_count() or 1
        # About a quarter-second of backlog per queued check at the default cost.
        self.max_queued = max_queued or 32 * self.threads
        self.pending = 0
        self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="password-hash")
        # Verified against when the username is unknown, so that answer takes as
        # long as a wrong password and does not reveal which usernames exist.
        self.dummy_hash = self.context.hash("dummy password for unknown users")

    async def run(self, function: Callable[..., T], *args: str) -> T:
        """Run one hashing call on the pool, or refuse if the queue is full."""
        if self.pending >= self.max_queued:
            raise HasherBusy
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)
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
