"""Every SQL statement on ``api_tokens``, as typed async functions.

A token is found by its SHA-256 only; everything else a user does to their tokens has
their own id in the WHERE clause, so another user's token is simply not there.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.accounts.models import User
from quart_blog.db import Prepared
from quart_blog.tokens.models import ApiToken


class ActiveToken(NamedTuple):
    """What a request authenticated by a token needs to know, from one query."""

    token_id: int
    user_id: int
    username: str
    scope: str
    last_used_at: datetime | None


# Compiled once, like the session lookup (accounts.queries.ACTIVE_SESSION): it runs on
# every request that brings a token, so a Bearer read costs what a cookie read does.
ACTIVE_TOKEN = Prepared(
    select(
        ApiToken.id.label("token_id"),
        ApiToken.user_id,
        User.username,
        ApiToken.scope,
        ApiToken.last_used_at,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
    .where(ApiToken.expires_at > bindparam("now")),
    ActiveToken,
)


async def select_active_token(
    session: AsyncSession, *, token_hash: str, now: datetime
) -> ActiveToken | None:
    """The unexpired token with this hash joined to its user, or ``None``."""
    return await ACTIVE_TOKEN.first(session, {"token_hash": token_hash, "now": now})


async def update_last_used(session: AsyncSession, *, token_id: int, now: datetime) -> None:
    """Mark the token as used now."""
    await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


async def insert_token(
    session: AsyncSession,
    *,
    user_id: int,
    name: str,
    scope: str,
    token_hash: str,
    now: datetime,
    expires_at: datetime,
) -> ApiToken:
    """Record a new token (its hash only)."""
    row = ApiToken(
        user_id=user_id,
        name=name,
        scope=scope,
        token_hash=token_hash,
        created_at=now,
        expires_at=expires_at,
        last_used_at=None,
    )
    session.add(row)
    await session.flush()
    return row


async def select_user_tokens(
    session: AsyncSession, *, user_id: int, now: datetime
) -> list[ApiToken]:
    """The user's unexpired tokens, newest first."""
    result = await session.execute(
        select(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.expires_at > now)
        .order_by(ApiToken.id.desc())
    )
    return list(result.scalars().all())


async def count_live_tokens(session: AsyncSession, *, user_id: int, now: datetime) -> int:
    """How many unexpired tokens the user has."""
    result = await session.execute(
        select(func.count())
        .select_from(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.expires_at > now)
    )
    return int(result.scalar_one())


async def delete_token(session: AsyncSession, *, token_id: int, user_id: int) -> bool:
    """Revoke one of the user's tokens; false when they have no such token."""
    result = await session.execute(
        delete(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user_id)
        .returning(ApiToken.id)
    )
    return result.first() is not None


async def delete_expired_tokens(session: AsyncSession, *, user_id: int, now: datetime) -> None:
    """Drop the user's expired tokens (done when one is created, so the table stays small)."""
    await session.execute(
        delete(ApiToken).where(ApiToken.user_id == user_id, ApiToken.expires_at <= now)
    )


async def delete_all_tokens(session: AsyncSession, *, user_id: int) -> int:
    """Revoke every token of the user (a password reset); return how many."""
    result = await session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
    return int(result.rowcount)  # type: ignore[attr-defined]
