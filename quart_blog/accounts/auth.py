"""Where login happens: register, authenticate, log in/out, change password.

Views call these and nothing else for authentication, as Django's views call
``contrib.auth``. Hashing always happens outside any database transaction, so
no pooled connection or SQLite lock is held while a thread runs bcrypt.
"""

from __future__ import annotations

from quart import request
from quart_auth import login_user, logout_user
from sqlalchemy.exc import IntegrityError

from quart_blog.accounts import queries, reauth
from quart_blog.accounts.models import User
from quart_blog.accounts.passwords import get_hasher as hasher
from quart_blog.accounts.queries import ActiveSession
from quart_blog.accounts.sessions import (
    BROWSER_SESSION_LIFETIME,
    REMEMBER_LIFETIME,
    SessionUser,
    current_session,
    hash_token,
    new_token,
)
from quart_blog.clock import utcnow
from quart_blog.db import get_session, single_write, write_transaction
from quart_blog.events import log
from quart_blog.mfa import service as mfa
from quart_blog.recovery import service as recovery
from quart_blog.recovery.service import EmailTaken
from quart_blog.security import csrf, device_trust, limits

USER_AGENT_MAX = 200


class UsernameTaken(Exception):
    """Registration lost to an existing (case-insensitive) username."""


async def register(username: str, password: str, email: str | None = None) -> User:
    """Create an account; an address given gets its verification link at once.

    Raises ``UsernameTaken`` if the name is in use (any case), ``EmailTaken`` if the
    address is.
    """
    password_hash = await hasher().hash(password)
    db = get_session()
    if email is None:
        try:
            async with single_write(db):
                return await queries.insert_user(
                    db, username=username, password_hash=password_hash, now=utcnow()
                )
        except IntegrityError:
            raise UsernameTaken(username) from None
    try:
        async with write_transaction(db):
            if await queries.email_taken(db, email, by_other_than=None):
                raise EmailTaken(email)
            user = await queries.insert_user(
                db, username=username, password_hash=password_hash, now=utcnow(), email=email
            )
            await recovery.queue_verification(db, user, email)
            return user
    except IntegrityError:
        # Both names are unique; the address was free a moment ago, so it is the name
        # (or, rarely, an address registered in the same instant: say the name, and the
        # next try tells the truth).
        raise UsernameTaken(username) from None


async def authenticate(username: str, password: str) -> User | None:
    """The user if the credentials are right; unknown names cost a full verify too."""
    db = get_session()
    user = await queries.select_user_by_username(db, username)
    # End the read transaction before hashing, so no snapshot is pinned meanwhile.
    await db.commit()
    outcome = await hasher().verify(password, None if user is None else user.password_hash)
    if user is None:
        return None
    if not outcome.ok:
        # One INSERT on its own, after the verify the failure already paid for.
        async with single_write(db):
            await log.record(db, user.id, "login_failed")
        return None
    if outcome.new_hash is not None:
        async with single_write(db):
            await queries.update_password_hash(db, user_id=user.id, password_hash=outcome.new_hash)
        user.password_hash = outcome.new_hash
    return user


async def attempt_login(username: str, password: str) -> User | None:
    """Authenticate under the brute-force limits: count first, settle the count on success."""
    attempt = await limits.count_login_attempt(username)
    user = await authenticate(username, password)
    if user is not None:
        await attempt.succeeded()
    return user


async def log_in(user: User, *, remember: bool) -> bool:
    """Start a new server-side session for ``user`` and set the auth cookie.

    True when this is the account's first login ever.
    """
    token = new_token()
    now = utcnow()
    lifetime = REMEMBER_LIFETIME if remember else BROWSER_SESSION_LIFETIME
    first = user.last_login_at is None
    db = get_session()
    # One unit of work: the session and its "login" event are written together, and the
    # housekeeping rides along: four statements and one commit, where three single
    # statements cost three commits (and on PostgreSQL nine round trips, now six).
    async with write_transaction(db):
        await queries.delete_expired_sessions(db, user_id=user.id, now=now)
        await queries.update_last_login(db, user_id=user.id, now=now)
        session_id = await queries.insert_session(
            db,
            user_id=user.id,
            token_hash=hash_token(token),
            now=now,
            expires_at=now + lifetime,
            user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
            remember=remember,
        )
        await log.record(db, user.id, "login")
    session_user = SessionUser(token)
    session_user.remember_session(
        ActiveSession(
            session_id=session_id,
            user_id=user.id,
            username=user.username,
            last_seen_at=now,
            reauth_at=now,
        )
    )
    login_user(session_user, remember=remember)
    device_trust.remember_device(user)
    csrf.forget_anonymous_seed()
    return first


async def log_out() -> None:
    """Revoke this request's session server-side and clear the cookie."""
    active = await current_session()
    db = get_session()
    async with write_transaction(db):
        await queries.delete_session(db, session_id=active.session_id)
        await log.record(db, active.user_id, "logout")
    logout_user()


async def confirm_password(password: str) -> User | None:
    """The logged-in user if ``password`` is theirs, else ``None``.

    A password check like any other: a stolen cookie must not make it a guessing
    oracle, so it counts as a login attempt.
    """
    active = await current_session()
    attempt = await limits.count_login_attempt(active.username)
    db = get_session()
    user = await queries.select_user(db, active.user_id)
    await db.commit()
    if user is None or not (await hasher().verify(password, user.password_hash)).ok:
        return None
    await attempt.succeeded()
    return user


async def reauthenticate_with_password(password: str) -> bool:
    """Recent authentication (SPEC §13) by password: true, and recorded, when it is right."""
    if await confirm_password(password) is None:
        return False
    await reauth.mark_recent()
    return True


async def reauthenticate_with_code(code: str) -> bool:
    """Recent authentication (SPEC §13) by a TOTP or recovery code (consumed if right).

    Counted like a password check, so a stolen cookie cannot guess codes at will.
    """
    active = await current_session()
    attempt = await limits.count_login_attempt(active.username)
    if not await mfa.check_code(active.user_id, code):
        return False
    await attempt.succeeded()
    await reauth.mark_recent()
    return True


async def change_password(current_password: str, new_password: str) -> bool:
    """Set a new password if ``current_password`` is right; revoke every other session."""
    active = await current_session()
    user = await confirm_password(current_password)
    if user is None:
        return False
    db = get_session()
    new_hash = await hasher().hash(new_password)
    async with write_transaction(db):
        await queries.update_password_hash(db, user_id=user.id, password_hash=new_hash)
        await queries.delete_other_sessions(db, user_id=user.id, keep_id=active.session_id)
        await log.record(db, user.id, "password_changed")
        await recovery.queue_notice(db, user, "password-changed")
    return True


async def revoke_other_sessions() -> int:
    """Log out every other browser of this user; return how many sessions ended."""
    active = await current_session()
    db = get_session()
    async with write_transaction(db):
        count = await queries.delete_other_sessions(
            db, user_id=active.user_id, keep_id=active.session_id
        )
        await log.record(db, active.user_id, "sessions_revoked")
    return count
