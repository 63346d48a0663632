"""Password hashing with passlib's CryptContext, always off the event loop.

``bcrypt_sha256`` pre-hashes with HMAC-SHA256 (keyed by the salt) before
bcrypt, so every byte of a password up to SPEC's 1024 characters counts: no
silent truncation at 72 bytes. Plain ``bcrypt`` hashes still verify and are
upgraded on the next successful login.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from passlib.context import CryptContext

SCHEMES = ["bcrypt_sha256", "bcrypt"]


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a password; ``new_hash`` is set when the stored hash is stale."""

    ok: bool
    new_hash: str | None = None


class PasswordHasher:
    """Hash and verify passwords in a worker thread so logins never stall the loop."""

    def __init__(self, rounds: int) -> None:
        self.context = CryptContext(
            schemes=SCHEMES,
            deprecated=["bcrypt"],
            bcrypt_sha256__rounds=rounds,
            bcrypt__rounds=rounds,
        )
        # Verified against when the username is unknown, so that answer takes as
        # long as a wrong password and does not reveal which usernames exist.
        self.dummy_hash = self.context.hash("dummy password for unknown users")

    async def hash(self, password: str) -> str:
        """Hash a new password."""
        return await asyncio.to_thread(self.context.hash, password)

    async def verify(self, password: str, stored_hash: str | None) -> Verification:
        """Check ``password``; pass ``None`` for an unknown user to spend the same time."""
        if stored_hash is None:
            await asyncio.to_thread(self.context.verify, password, self.dummy_hash)
            return Verification(ok=False)
        ok, new_hash = await asyncio.to_thread(
            self.context.verify_and_update, password, stored_hash
        )
        return Verification(ok=bool(ok), new_hash=new_hash)
