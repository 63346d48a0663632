"""One-time tokens for links in e-mail: issued, voided by a newer one, consumed once.

The link carries 256 random bits; the database keeps only their SHA-256, so a leaked
table opens no account. Consuming is a single ``DELETE ... RETURNING``: of two requests
racing with the same token exactly one gets the row.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.accounts.sessions import hash_token
from quart_blog.clock import utcnow
from quart_blog.recovery.models import OneTimeToken

VERIFY = "verify"
RESET = "reset"
LIFETIMES = {VERIFY: timedelta(hours=48), RESET: timedelta(minutes=30)}
# What ``secrets.token_urlsafe`` makes; anything else is not one of ours (refused unhashed).
TOKEN_FORM = re.compile(r"[A-Za-z0-9_-]{16,100}")


class Redeemed(NamedTuple):
    """What a consumed token was for."""

    user_id: int
    email: str | None


async def issue(session: AsyncSession, *, user_id: int, purpose: str, email: str | None) -> str:
    """Create a token for ``purpose``, voiding the user's older ones of that purpose.

    Run it inside the write unit that also queues the message carrying it.
    """
    await session.execute(
        delete(OneTimeToken).where(OneTimeToken.user_id == user_id, OneTimeToken.purpose == purpose)
    )
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        OneTimeToken(
            token_hash=hash_token(token),
            user_id=user_id,
            purpose=purpose,
            email=email,
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    await session.flush()
    return token


async def redeem(session: AsyncSession, *, purpose: str, token: str) -> Redeemed | None:
    """Consume an unexpired token of ``purpose``; ``None`` when bad, used, voided or expired.

    An expired token is deleted too: it can never be good again.
    """
    if not TOKEN_FORM.fullmatch(token):
        return None
    result = await session.execute(
        delete(OneTimeToken)
        .where(OneTimeToken.token_hash == hash_token(token), OneTimeToken.purpose == purpose)
        .returning(OneTimeToken.user_id, OneTimeToken.email, OneTimeToken.expires_at)
    )
    row = result.one_or_none()
    if row is None or row.expires_at <= utcnow():
        return None
    return Redeemed(row.user_id, row.email)


async def is_live(session: AsyncSession, *, purpose: str, token: str) -> bool:
    """Whether ``token`` would be consumed now (it is not: a GET on a link shows a form)."""
    if not TOKEN_FORM.fullmatch(token):
        return False
    result = await session.execute(
        select(OneTimeToken.id).where(
            OneTimeToken.token_hash == hash_token(token),
            OneTimeToken.purpose == purpose,
            OneTimeToken.expires_at > utcnow(),
        )
    )
    return result.first() is not None
