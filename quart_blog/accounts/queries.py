"""Every SQL statement on ``users`` and ``auth_sessions``, as typed async functions.

Sessions are keyed by a token's SHA-256; a user's own id is always in the WHERE clause.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.accounts.models import AuthSession, User
from quart_blog.db import Prepared


async def insert_user(
    session: AsyncSession,
    *,
    username: str,
    password_hash: str,
    now: datetime,
    email: str | None = None,
) -> User:
    """Insert a user (its address, if any, not yet verified); a taken name or address
    raises ``IntegrityError``."""
    user = User(
        username=username,
        username_lower=username.lower(),
        password_hash=password_hash,
        created_at=now,
        email=email,
        email_lower=None if email is None else email.lower(),
    )
    session.add(user)
    await session.flush()
    return user


async def select_user_by_username(session: AsyncSession, username: str) -> User | None:
    """The user with this name, ignoring case."""
    result = await session.execute(select(User).where(User.username_lower == username.lower()))
    return result.scalar_one_or_none()


async def select_user_by_verified_email(session: AsyncSession, email: str) -> User | None:
    """The user whose verified address this is, ignoring case."""
    result = await session.execute(
        select(User).where(User.email_lower == email.lower(), User.email_verified_at.is_not(None))
    )
    return result.scalar_one_or_none()


async def email_taken(session: AsyncSession, email: str, *, by_other_than: int | None) -> bool:
    """Whether an account other than ``by_other_than`` has this address (any case)."""
    query = select(User.id).where(User.email_lower == email.lower())
    if by_other_than is not None:
        query = query.where(User.id != by_other_than)
    return (await session.execute(query.limit(1))).first() is not None


async def update_verified_email(
    session: AsyncSession, *, user_id: int, email: str, now: datetime
) -> None:
    """Make ``email`` the user's address, verified now (it may replace another)."""
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(email=email, email_lower=email.lower(), email_verified_at=now)
    )


async def select_user(session: AsyncSession, user_id: int) -> User | None:
    """The user with this id."""
    return await session.get(User, user_id)


async def update_last_login(session: AsyncSession, *, user_id: int, now: datetime) -> None:
    """Record a successful login."""
    await session.execute(update(User).where(User.id == user_id).values(last_login_at=now))


async def update_password_hash(session: AsyncSession, *, user_id: int, password_hash: str) -> None:
    """Store a new hash (after a password change or a scheme/cost upgrade)."""
    await session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )


class ActiveSession(NamedTuple):
    """What a request needs to know about its logged-in user, from one query."""

    session_id: int
    user_id: int
    username: str
    last_seen_at: datetime
    reauth_at: datetime | None  # the last password, code or passkey check (SPEC §13)
    expires_at: datetime | None = None  # None: not known (a session made by this request)


async def insert_session(
    session: AsyncSession,
    *,
    user_id: int,
    token_hash: str,
    now: datetime,
    expires_at: datetime,
    user_agent: str,
    remember: bool,
) -> int:
    """Record a new login session and return its id."""
    row = AuthSession(
        token_hash=token_hash,
        user_id=user_id,
        created_at=now,
        expires_at=expires_at,
        last_seen_at=now,
        user_agent=user_agent,
        remember=remember,
        reauth_at=now,  # a fresh login counts as recent authentication
    )
    session.add(row)
    await session.flush()
    return row.id


# Built and compiled once: this runs on every authenticated request, and building
# and executing it through the session cost more than running it (docs/PERFORMANCE.md).
ACTIVE_SESSION = Prepared(
    select(
        AuthSession.id.label("session_id"),
        AuthSession.user_id,
        User.username,
        AuthSession.last_seen_at,
        AuthSession.reauth_at,
        AuthSession.expires_at,
    )
    .join(User, User.id == AuthSession.user_id)
    .where(AuthSession.token_hash == bindparam("token_hash"))
    .where(AuthSession.expires_at > bindparam("now")),
    ActiveSession,
)


async def select_active_session(
    session: AsyncSession, *, token_hash: str, now: datetime
) -> ActiveSession | None:
    """The unexpired session with this token hash joined to its user, or ``None``."""
    return await ACTIVE_SESSION.first(session, {"token_hash": token_hash, "now": now})


async def select_user_sessions(
    session: AsyncSession, *, user_id: int, now: datetime
) -> list[AuthSession]:
    """The user's unexpired sessions, most recently seen first."""
    result = await session.execute(
        select(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.expires_at > now)
        .order_by(AuthSession.last_seen_at.desc(), AuthSession.id.desc())
    )
    return list(result.scalars().all())


async def update_last_seen(session: AsyncSession, *, session_id: int, now: datetime) -> None:
    """Mark the session as seen now."""
    await session.execute(
        update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=now)
    )


async def update_reauth(session: AsyncSession, *, session_id: int, now: datetime) -> None:
    """Record that the session has just checked a password, code or passkey."""
    await session.execute(
        update(AuthSession).where(AuthSession.id == session_id).values(reauth_at=now)
    )


async def delete_session(session: AsyncSession, *, session_id: int) -> bool:
    """Revoke one session; true when it still existed."""
    result = await session.execute(delete(AuthSession).where(AuthSession.id == session_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_other_sessions(session: AsyncSession, *, user_id: int, keep_id: int) -> int:
    """Revoke every session of the user but ``keep_id``; return how many."""
    result = await session.execute(
        delete(AuthSession).where(AuthSession.user_id == user_id, AuthSession.id != keep_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_all_sessions(session: AsyncSession, *, user_id: int) -> int:
    """Revoke every session of the user; return how many."""
    result = await session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_expired_sessions(session: AsyncSession, *, user_id: int, now: datetime) -> None:
    """Drop the user's expired sessions (done at login so the table does not grow forever)."""
    await session.execute(
        delete(AuthSession).where(AuthSession.user_id == user_id, AuthSession.expires_at <= now)
    )
