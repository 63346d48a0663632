"""Where the session is checked: login tokens, the auth cookie, and the user they resolve to.

The Quart-Auth ``auth_id`` is a random token; the database keeps only its
SHA-256, so a leaked table cannot be replayed as cookies. Logout, password
changes and expiry take effect on the next request on every worker and every
instance: on PostgreSQL every request looks the token up again; on SQLite a
worker keeps what it looked up (``KeptLookups``) only until the next write to
``users`` or ``auth_sessions`` by any process, bar a ``last_seen_at`` refresh
(``quart_blog.db.changes``).

An API request with an ``Authorization`` header resolves to its API token's user
instead (``quart_blog.tokens.bearer``), looked up the same way on every request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import warnings
from datetime import datetime, timedelta
from typing import Any, cast

from itsdangerous import BadSignature
from quart import Quart, Response, current_app, has_request_context, request
from quart_auth import Action, AuthUser, QuartAuth, current_user
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.accounts.queries import ActiveSession, select_active_session, update_last_seen
from quart_blog.clock import utcnow
from quart_blog.config import get_settings
from quart_blog.db import get_database, get_session, single_write
from quart_blog.db.changes import ChangeCounter
from quart_blog.tokens import bearer
from quart_blog.tokens.queries import ActiveToken

REMEMBER_LIFETIME = timedelta(days=30)
BROWSER_SESSION_LIFETIME = timedelta(hours=12)
# A session's last_seen_at is written at most this often: a write per request
# would turn every read into a write and serialise SQLite's single writer.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
# The session id of a request authenticated by an API token: no login session, no row.
NO_SESSION = 0
# Session lookups a worker keeps at most (about 4 MB); the oldest goes first.
KEPT_LOOKUPS_MAX = 10_000
KEPT_LOOKUPS_KEY = "quart_blog.kept_session_lookups"
# Auth cookies whose signature passed, per app (SessionCookie.load_token).
VERIFIED_MAX = 10_000
VERIFIED_KEY = "quart_blog.verified_auth_cookies"
# When this worker last started a session's last_seen_at write (refresh_last_seen).
LAST_SEEN_KEY = "quart_blog.last_seen_refreshes"


def new_token() -> str:
    """A fresh unguessable session token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the database stores for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionUser(AuthUser):
    """Quart-Auth's user, authenticated only while its session row is live.

    On an API request with an ``Authorization`` header the user is its API token's
    instead (``authorization``; the cookie is then never read), and ``api_token`` records
    which token, with its scope, authenticated the request.
    """

    def __init__(
        self,
        auth_id: str | None,
        action: Action = Action.PASS,
        *,
        authorization: str | None = None,
    ) -> None:
        super().__init__(auth_id, action)
        self._resolved = False
        self._session: ActiveSession | None = None
        self.authorization = authorization
        self.api_token: ActiveToken | None = None

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
            if self.authorization is None:
                self._session = await load_session(self.token_hash)
            else:
                token = self.api_token = await bearer.authenticate(self.authorization)
                self._session = None if token is None else token_principal(token)
        return self._session

    @property
    def already_found(self) -> ActiveSession | None:
        """What ``resolve`` found, if this request has looked already; never looks itself."""
        return self._session if self._resolved else None

    def remember_session(self, active: ActiveSession) -> None:
        """Record a session just created by login, so this request needs no lookup."""
        self._resolved = True
        self._session = active


def cookies_secure() -> bool:
    """The ``Secure`` flag of every cookie the app sets in this request (auth, flash,
    device, pending login, WebAuthn): on exactly when the request came over HTTPS, unless
    ``SESSION_COOKIE_SECURE`` forces it either way."""
    forced = get_settings().cookie_secure
    return request.is_secure if forced is None else forced


def request_user() -> SessionUser:
    """This request's Quart-Auth user (resolved lazily; see ``SessionUser.resolve``)."""
    user = cast(Any, current_user)._get_current_object()
    assert isinstance(user, SessionUser)
    return user


def token_principal(token: ActiveToken) -> ActiveSession:
    """A token's user as the rest of the app sees a logged-in one (posts read ``user_id``).

    No login session stands behind it (``NO_SESSION`` matches no row), and a token never
    counts as recent authentication (``reauth_at`` is None).
    """
    return ActiveSession(
        session_id=NO_SESSION,
        user_id=token.user_id,
        username=token.username,
        last_seen_at=token.last_used_at or utcnow(),
        reauth_at=None,
    )


class KeptLookups:
    """A worker's recent session lookups on SQLite, each trusted only while nothing changed.

    A lookup is kept with the value ``changes`` had before it was made, and used again
    only while the counter still holds that value and the session has not expired; once
    its ``last_seen_at`` is due for a refresh, the next request looks it up again and
    refreshes it while the others go on with the kept lookup. Any write to ``users`` or
    ``auth_sessions`` by any worker or instance, all but a ``last_seen_at`` refresh,
    changes the counter (``quart_blog.db.changes``), so every kept lookup is looked up
    afresh after a logout, a revocation, a password change or an account deletion
    anywhere. What this saves is the lookup's hand-off to a database thread and back:
    most of the CPU of a read request on SQLite (docs/PERFORMANCE.md).
    """

    def __init__(self, changes: ChangeCounter) -> None:
        self.changes = changes
        self._kept: dict[str, tuple[int, datetime, ActiveSession]] = {}

    def find(self, token_hash: str, now: datetime) -> ActiveSession | None:
        """The kept lookup for this token, if it still holds at ``now``."""
        kept = self._kept.get(token_hash)
        if kept is None:
            return None
        generation, expires_at, active = kept
        if generation != self.changes.value or now >= expires_at:
            del self._kept[token_hash]
            return None
        if now - active.last_seen_at >= LAST_SEEN_RESOLUTION:
            # Due for its look-up and last_seen_at refresh: this caller makes them. The
            # session's other requests meanwhile go on with the kept lookup: under load
            # every one of them looked up and wrote at once, a burst of serialised writes
            # each minute (the p99 at 1024 connections, docs/PERFORMANCE.md).
            self._kept[token_hash] = (generation, expires_at, active._replace(last_seen_at=now))
            return None
        return active

    def forget(self, token_hash: str) -> None:
        """Drop the kept lookup of a token whose session a fresh look-up did not find."""
        self._kept.pop(token_hash, None)

    def keep(self, token_hash: str, generation: int, active: ActiveSession) -> None:
        """Keep a lookup made when the counter was at ``generation``."""
        if active.expires_at is None:
            return
        if len(self._kept) >= KEPT_LOOKUPS_MAX:
            del self._kept[next(iter(self._kept))]
        self._kept[token_hash] = (generation, active.expires_at, active)


def kept_lookups() -> KeptLookups | None:
    """This app's kept lookups; ``None`` where nothing may be kept (PostgreSQL)."""
    changes = get_database().changes
    if changes is None:
        return None
    lookups: KeptLookups | None = current_app.extensions.get(KEPT_LOOKUPS_KEY)
    if lookups is None or lookups.changes is not changes:
        lookups = current_app.extensions[KEPT_LOOKUPS_KEY] = KeptLookups(changes)
    return lookups


async def load_session(token_hash: str | None) -> ActiveSession | None:
    """Find the live session for a token hash, refreshing ``last_seen_at`` now and then."""
    if token_hash is None:
        return None
    now = utcnow()
    lookups = kept_lookups()
    generation = 0
    if lookups is not None:
        kept = lookups.find(token_hash, now)
        if kept is not None:
            return kept
        generation = lookups.changes.value  # read BEFORE the lookup: see KeptLookups
    db = get_session()
    active = await select_active_session(db, token_hash=token_hash, now=now)
    if active is None:
        if lookups is not None:
            lookups.forget(token_hash)
        return None
    if now - active.last_seen_at >= LAST_SEEN_RESOLUTION:
        active = await refresh_last_seen(db, active, now)  # leaves the counter alone
    if lookups is not None:
        lookups.keep(token_hash, generation, active)
    return active


async def refresh_last_seen(
    db: AsyncSession, active: ActiveSession, now: datetime
) -> ActiveSession:
    """Write that the session was seen ``now``, unless this worker already has lately.

    Every request of a session that arrives while its refresh is due sees the old
    ``last_seen_at`` (the write is not committed yet, or on PostgreSQL not even begun),
    so the first one to start the write is remembered here for ``LAST_SEEN_RESOLUTION``
    and the others write nothing. It decides no session's validity, so a skipped write
    costs nothing but a ``last_seen_at`` up to a minute older on the sessions page.
    """
    started: dict[int, datetime] = current_app.extensions.setdefault(LAST_SEEN_KEY, {})
    since = started.get(active.session_id)
    if since is not None and now - since < LAST_SEEN_RESOLUTION:
        return active._replace(last_seen_at=since)
    started.pop(active.session_id, None)
    if len(started) >= KEPT_LOOKUPS_MAX:
        del started[next(iter(started))]
    started[active.session_id] = now
    try:
        async with single_write(db):
            await update_last_seen(db, session_id=active.session_id, now=now)
    except BaseException:
        started.pop(active.session_id, None)  # the next request tries again
        raise
    return active._replace(last_seen_at=now)


async def current_session() -> ActiveSession:
    """The logged-in session of this request (call only behind ``login_required``)."""
    active = await request_user().resolve()
    if active is None:
        current_app.logger.error("current_session() called without a logged-in user")
        raise LookupError("no logged-in session")
    return active


class SessionCookie(QuartAuth):
    """Quart-Auth's cookie, ``Secure`` exactly when the request came over HTTPS.

    Quart-Auth reads ``cookie_secure`` as it writes the cookie; answering it per
    request means plain HTTP on 127.0.0.1 works while HTTPS always gets the flag.
    ``SESSION_COOKIE_SECURE`` still forces it either way.
    """

    user_class = SessionUser

    def __init__(self) -> None:
        super().__init__(
            cookie_name="quart_blog_auth",
            cookie_samesite="Lax",
            cookie_http_only=True,
            duration=int(REMEMBER_LIFETIME.total_seconds()),
            mode="cookie",
            salt="quart-blog auth cookie",
        )

    @property
    def cookie_secure(self) -> bool:
        """The Secure flag for this request's cookie (read from the app: each has its own)."""
        return cookies_secure() if has_request_context() else True

    @cookie_secure.setter
    def cookie_secure(self, _value: bool | None) -> None:
        """Quart-Auth assigns its configured default here; the property above decides instead."""

    def load_token(self, token: str, app: Quart | None = None) -> str | None:
        """Quart-Auth's check of the signed cookie, remembered for the tokens that pass it.

        itsdangerous derives its key (an HMAC) and checks the signature on every call, about
        5 % of a read request's CPU, for a cookie that is the same on every request of a
        session. A token that passed once passes until its signed time plus ``duration``,
        so only such tokens are remembered (per app: each has its own keys), with that
        deadline; nothing that failed is ever remembered. The session behind the token is
        still checked on every request (``load_session``).
        """
        app = app or current_app
        verified: dict[str, tuple[str, float]] = app.extensions.setdefault(VERIFIED_KEY, {})
        known = verified.get(token)
        if known is not None:
            auth_id, valid_until = known
            if time.time() < valid_until:
                return auth_id
            del verified[token]
        keys = [*(app.config.get("SECRET_KEY_FALLBACKS") or []), app.secret_key]
        assert self.salt is not None  # set in __init__
        serializer = self.serializer_class(keys, self.salt)  # the current key last, as upstream
        try:
            auth_id, signed_at = serializer.loads(
                token, max_age=self.duration, return_timestamp=True
            )
        except BadSignature:  # SignatureExpired included
            return None
        if len(verified) >= VERIFIED_MAX:
            del verified[next(iter(verified))]
        verified[token] = (auth_id, signed_at.timestamp() + self.duration)
        return str(auth_id)

    def resolve_user(self) -> AuthUser:
        """This request's user: its API token's when it has an ``Authorization`` header
        (the cookie is then ignored entirely, even a valid one), else the cookie's."""
        authorization = bearer.presented()
        if authorization is not None:
            return SessionUser(None, authorization=authorization)
        return super().resolve_user()

    async def after_request(self, response: Response) -> Response:
        if self.cookie_secure and not request.is_secure:
            # The operator forced Secure over plain HTTP (SESSION_COOKIE_SECURE=on behind a
            # TLS proxy): Quart-Auth's warning about that would repeat on every login. The
            # hook has no await, so the changed filter is seen by nothing else.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Secure cookies will be ignored", UserWarning)
                return await super().after_request(response)
        return await super().after_request(response)


session_cookie = SessionCookie()
