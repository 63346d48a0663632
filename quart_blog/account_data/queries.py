"""Every SQL statement of the export and of account deletion, as typed async functions.

Each read names the user in its WHERE clause and walks ``(user_id, id)`` upwards a batch
at a time, so the export never holds more than one batch. None selects a hash or secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.accounts.models import AuthSession, User
from quart_blog.db import Prepared
from quart_blog.mfa.models import RecoveryCode
from quart_blog.passkeys.models import Passkey
from quart_blog.posts.models import Post
from quart_blog.posts.queries import ListedPost
from quart_blog.tokens.models import ApiToken

# The biggest section by far: compiled once, and one hop per batch on SQLite.
POSTS_AFTER = Prepared(
    select(Post.id, Post.title, Post.body, Post.created_at, Post.updated_at)
    .where(Post.user_id == bindparam("user_id"), Post.id > bindparam("after"))
    .order_by(Post.id)
    .limit(bindparam("limit")),
    ListedPost,
)


async def select_posts_after(
    session: AsyncSession, *, user_id: int, after: int, limit: int
) -> list[ListedPost]:
    """Up to ``limit`` of the user's posts with an id above ``after``, oldest first."""
    return await POSTS_AFTER.all(session, {"user_id": user_id, "after": after, "limit": limit})


class SessionRow(NamedTuple):
    """A login session as exported: no token hash."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    remember: bool
    user_agent: str


async def select_sessions_after(
    session: AsyncSession, *, user_id: int, after: int, limit: int
) -> list[SessionRow]:
    """Up to ``limit`` of the user's sessions with an id above ``after``, oldest first."""
    result = await session.execute(
        select(
            AuthSession.id,
            AuthSession.created_at,
            AuthSession.last_seen_at,
            AuthSession.expires_at,
            AuthSession.remember,
            AuthSession.user_agent,
        )
        .where(AuthSession.user_id == user_id, AuthSession.id > after)
        .order_by(AuthSession.id)
        .limit(limit)
    )
    return [SessionRow(*row) for row in result.all()]


class TokenRow(NamedTuple):
    """An API token as exported: no token, no hash."""

    id: int
    name: str
    scope: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


async def select_tokens_after(
    session: AsyncSession, *, user_id: int, after: int, limit: int
) -> list[TokenRow]:
    """Up to ``limit`` of the user's API tokens with an id above ``after``, oldest first."""
    result = await session.execute(
        select(
            ApiToken.id,
            ApiToken.name,
            ApiToken.scope,
            ApiToken.created_at,
            ApiToken.expires_at,
            ApiToken.last_used_at,
        )
        .where(ApiToken.user_id == user_id, ApiToken.id > after)
        .order_by(ApiToken.id)
        .limit(limit)
    )
    return [TokenRow(*row) for row in result.all()]


class PasskeyRow(NamedTuple):
    """A passkey as exported: its name and times, not its key or credential id."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


async def select_passkeys(session: AsyncSession, *, user_id: int) -> list[PasskeyRow]:
    """The user's passkeys, oldest first (a handful at most)."""
    result = await session.execute(
        select(Passkey.id, Passkey.name, Passkey.created_at, Passkey.last_used_at)
        .where(Passkey.user_id == user_id)
        .order_by(Passkey.id)
    )
    return [PasskeyRow(*row) for row in result.all()]


async def count_recovery_codes(session: AsyncSession, *, user_id: int) -> int:
    """How many unused recovery codes the user has."""
    query = select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == user_id)
    return int((await session.execute(query)).scalar_one())


async def delete_user(session: AsyncSession, *, user_id: int) -> bool:
    """Delete the account; every row that names it goes by ON DELETE CASCADE.

    True when the account still existed (of two racing deletions, one).
    """
    result = await session.execute(delete(User).where(User.id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
