"""Login session tokens and the per-request user they resolve to.

The Quart-Auth ``auth_id`` is a random token; the database keeps only its
SHA-256, so a leaked table cannot be replayed as cookies. Every request looks
the token up again, so logout, password changes and expiry take effect on the
next request on every worker and every instance.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any, cast

from quart import current_app
from quart_auth import Action, AuthUser, current_user

from quart_blog.clock import utcnow
from quart_blog.db import get_session, single_write
from quart_blog.queries.sessions import ActiveSession, select_active_session, update_last_seen

REMEMBER_LIFETIME = timedelta(days=30)
BROWSER_SESSION_LIFETIME = timedelta(hours=12)
# A session's last_seen_at is written at most this often: a write per request
# would turn every read into a write and serialise SQLite's single writer.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def new_token() -> str:
    """A fresh unguessable session token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the database stores for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionUser(AuthUser):
    """Quart-Auth's user, authenticated only while its session row is live."""

    def __init__(self, auth_id: str | None, action: Action = Action.PASS) -> None:
        super().__init__(auth_id, action)
        self._resolved = False
        self._session: ActiveSession | None = None

    @property
    def token_hash(self) -> str | None:
        """SHA-256 of the token, or ``None`` when anonymous."""
        return None if self.auth_id is None else hash_token(self.auth_id)

    @property
    async def is_authenticated(self) -> bool:
        return await self.resolve() is not None

    async def resolve(self) -> ActiveSession | None:
        """Look the session up once per request (the result is kept on this object)."""
        if not self._resolved:
            self._resolved = True
            self._session = await load_session(self.token_hash)
        return self._session

    def remember_session(self, active: ActiveSession) -> None:
        """Record a session just created by login, so this request needs no lookup."""
        self._resolved = True
        self._session = active


def request_user() -> SessionUser:
    """This request's Quart-Auth user (resolved lazily; see ``SessionUser.resolve``)."""
    user = cast(Any, current_user)._get_current_object()
    assert isinstance(user, SessionUser)
    return user


async def load_session(token_hash: str | None) -> ActiveSession | None:
    """Find the live session for a token hash, refreshing ``last_seen_at`` now and then."""
    if token_hash is None:
        return None
    now = utcnow()
    db = get_session()
    active = await select_active_session(db, token_hash=token_hash, now=now)
    if active is not None and now - active.last_seen_at >= LAST_SEEN_RESOLUTION:
        async with single_write(db):
            await update_last_seen(db, session_id=active.session_id, now=now)
    return active


async def current_session() -> ActiveSession:
    """The logged-in session of this request (call only behind ``login_required``)."""
    active = await request_user().resolve()
    if active is None:
        current_app.logger.error("current_session() called without a logged-in user")
        raise LookupError("no logged-in session")
    return active
