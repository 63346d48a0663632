"""Every SQL statement on ``passkeys`` and ``webauthn_challenges``, as typed async functions.

A user's own id is in the WHERE clause of everything done for a logged-in user, so
another user's passkey is simply not found (404, never 403).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.passkeys.models import Passkey, WebAuthnChallenge


class Challenge(NamedTuple):
    """A redeemed ceremony challenge: whom it was issued to, the bytes, until when."""

    user_id: int | None
    challenge: bytes
    expires_at: datetime


async def insert_passkey(
    session: AsyncSession,
    *,
    user_id: int,
    credential_id: bytes,
    public_key: bytes,
    sign_count: int,
    name: str,
    transports: str,
    now: datetime,
) -> Passkey:
    """Store a verified credential; one already registered raises ``IntegrityError``."""
    passkey = Passkey(
        user_id=user_id,
        credential_id=credential_id,
        public_key=public_key,
        sign_count=sign_count,
        name=name,
        transports=transports,
        created_at=now,
        last_used_at=None,
    )
    session.add(passkey)
    await session.flush()
    return passkey


async def select_user_passkeys(session: AsyncSession, *, user_id: int) -> list[Passkey]:
    """The user's passkeys, oldest first (the order they were added)."""
    result = await session.execute(
        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)
    )
    return list(result.scalars().all())


async def count_user_passkeys(session: AsyncSession, *, user_id: int) -> int:
    """How many passkeys the user has."""
    query = select(func.count()).select_from(Passkey).where(Passkey.user_id == user_id)
    return int((await session.execute(query)).scalar_one())


async def select_passkey_by_credential(
    session: AsyncSession, *, credential_id: bytes
) -> Passkey | None:
    """The passkey with this credential id, whoever it belongs to (login names the user)."""
    result = await session.execute(select(Passkey).where(Passkey.credential_id == credential_id))
    return result.scalar_one_or_none()


async def update_passkey_use(
    session: AsyncSession, *, passkey_id: int, old_count: int, new_count: int, now: datetime
) -> bool:
    """Record a use: the new signature count and ``last_used_at``.

    Only if the count is still ``old_count``: of two logins racing with one assertion
    count, one wins. False when the other did.
    """
    result = await session.execute(
        update(Passkey)
        .where(Passkey.id == passkey_id, Passkey.sign_count == old_count)
        .values(sign_count=new_count, last_used_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_user_passkey(
    session: AsyncSession, *, passkey_id: int, user_id: int
) -> str | None:
    """Remove one of the user's passkeys and return its name; ``None`` if they have no such."""
    result = await session.execute(
        delete(Passkey)
        .where(Passkey.id == passkey_id, Passkey.user_id == user_id)
        .returning(Passkey.name)
    )
    name: str | None = result.scalar_one_or_none()
    return name


async def insert_challenge(
    session: AsyncSession,
    *,
    token_hash: str,
    purpose: str,
    user_id: int | None,
    challenge: bytes,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Record the challenge of a ceremony that has just begun."""
    session.add(
        WebAuthnChallenge(
            token_hash=token_hash,
            purpose=purpose,
            user_id=user_id,
            challenge=challenge,
            created_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()


async def delete_expired_challenges(session: AsyncSession, *, now: datetime) -> None:
    """Drop abandoned ceremonies (done as new ones begin, so the table stays small)."""
    await session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at <= now))


async def delete_challenge(session: AsyncSession, *, token_hash: str) -> None:
    """Drop the ceremony a client is replacing with a new one."""
    await session.execute(
        delete(WebAuthnChallenge).where(WebAuthnChallenge.token_hash == token_hash)
    )


async def redeem_challenge(
    session: AsyncSession, *, token_hash: str, purpose: str
) -> Challenge | None:
    """Consume a challenge in one ``DELETE ... RETURNING``: of two racing uses, one gets it."""
    result = await session.execute(
        delete(WebAuthnChallenge)
        .where(WebAuthnChallenge.token_hash == token_hash, WebAuthnChallenge.purpose == purpose)
        .returning(
            WebAuthnChallenge.user_id, WebAuthnChallenge.challenge, WebAuthnChallenge.expires_at
        )
    )
    row = result.one_or_none()
    return None if row is None else Challenge(row.user_id, row.challenge, row.expires_at)
