"""Queries on ``users``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.models import User


async def insert_user(
    session: AsyncSession, *, username: str, password_hash: str, now: datetime
) -> User:
    """Insert a user; a taken name raises ``IntegrityError`` on ``username_lower``."""
    user = User(
        username=username,
        username_lower=username.lower(),
        password_hash=password_hash,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def select_user_by_username(session: AsyncSession, username: str) -> User | None:
    """The user with this name, ignoring case."""
    result = await session.execute(select(User).where(User.username_lower == username.lower()))
    return result.scalar_one_or_none()


async def select_user(session: AsyncSession, user_id: int) -> User | None:
    """The user with this id."""
    return await session.get(User, user_id)


async def update_password_hash(session: AsyncSession, *, user_id: int, password_hash: str) -> None:
    """Store a new hash (after a password change or a scheme/cost upgrade)."""
    await session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )
