"""Where the second factor happens (SPEC §12): enrolment, codes, the login's second step.

Views call these and nothing else, as they call ``accounts.auth`` for logging in. Every
change to a factor and its security-log event (and notice) are one unit of work; using a
code is one conditional statement, so a code is accepted at most once however many
requests present it at the same moment.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import NamedTuple

from quart import after_this_request, request
from quart.typing import ResponseTypes
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.accounts import queries as accounts
from quart_blog.accounts.models import User
from quart_blog.accounts.sessions import cookies_secure
from quart_blog.clock import utcnow
from quart_blog.db import get_session, single_write, write_transaction
from quart_blog.events import log
from quart_blog.mfa import codes, queries, totp
from quart_blog.recovery.service import queue_notice

PENDING_LIFETIME = timedelta(minutes=5)
PENDING_ATTEMPTS = 5
PENDING_COOKIE = "quart_blog_mfa"
TOTP_DIGITS = frozenset("0123456789")


class AlreadyEnabled(Exception):
    """TOTP is on already: turn it off before enrolling another authenticator."""


class NotEnabled(Exception):
    """TOTP is off, so there is nothing to regenerate codes for."""


class InvalidCode(Exception):
    """The code of a pending login is wrong or was used already; the login may try again."""


class LoginExpired(Exception):
    """No live pending login for this client (none, lapsed, or out of attempts)."""


class Status(NamedTuple):
    """What second factors an account has."""

    totp: bool
    recovery_codes_left: int
    passkeys: int


class Enrolment(NamedTuple):
    """A started, unconfirmed TOTP enrolment, as the user needs to see it."""

    secret: str  # base32, no separators
    secret_text: str  # the same, grouped for typing
    otpauth_uri: str
    qr_data_uri: str


class Reset(NamedTuple):
    """What an administrator's reset of a user's second factor removed."""

    totp: int
    recovery_codes: int
    passkeys: int
    pending_logins: int
    sessions: int


# --- what others import: is TOTP on, and is this code right ----------------------------


async def totp_enabled(user_id: int) -> bool:
    """Whether the user has TOTP switched on (a confirmed secret)."""
    return await queries.totp_confirmed(get_session(), user_id)


async def check_code(user_id: int, code: str) -> bool:
    """Whether ``code`` is a right TOTP code or an unused recovery code of the user.

    Consumes what it accepts: the TOTP time step (that code and older ones are refused
    from then on) or the recovery code (``recovery_code_used`` is recorded).
    """
    if is_totp_shaped(code):
        return await use_totp_code(user_id, code)
    if codes.looks_like_code(code):
        return await use_recovery_code(user_id, code)
    return False


def is_totp_shaped(code: str) -> bool:
    """Six digits, perhaps with spaces or a dash (as authenticator apps show them)."""
    digits = code.translate(codes.SEPARATORS)
    return len(digits) == totp.DIGITS and set(digits) <= TOTP_DIGITS


async def use_totp_code(user_id: int, code: str) -> bool:
    """Accept a TOTP code once: its time step must be newer than the last accepted one."""
    db = get_session()
    row = await queries.select_totp(db, user_id)
    await db.commit()  # no snapshot pinned while the secret is decrypted
    if row is None or row.confirmed_at is None:
        return False
    matched = totp.match(row.secret, code, last_counter=row.last_counter)
    if matched is None:
        return False
    async with single_write(db):
        # Conditional on last_counter: of two requests with the same code, one wins.
        return await queries.use_totp_step(
            db, user_id=user_id, counter=matched.counter, reencrypted=matched.reencrypted
        )


async def use_recovery_code(user_id: int, code: str) -> bool:
    """Consume one recovery code, recording its use; False if it is not (or no longer) valid."""
    db = get_session()
    async with write_transaction(db):
        used = await queries.use_recovery_code(db, user_id=user_id, code_hash=codes.code_hash(code))
        if used:
            await log.record(db, user_id, "recovery_code_used")
    return used


# --- status and enrolment ---------------------------------------------------------------


async def status(user_id: int) -> Status:
    """TOTP on or off, recovery codes left, passkeys registered."""
    db = get_session()
    return Status(
        totp=await queries.totp_confirmed(db, user_id),
        recovery_codes_left=await queries.count_recovery_codes(db, user_id),
        passkeys=await queries.count_passkeys(db, user_id),
    )


def enrolment_of(sealed: str, username: str) -> Enrolment:
    """How a stored, unconfirmed secret is shown for enrolment."""
    secret = totp.unseal(sealed)
    uri = totp.otpauth_uri(secret, username)
    return Enrolment(
        secret=totp.plain_secret(secret),
        secret_text=totp.secret_text(secret),
        otpauth_uri=uri,
        qr_data_uri=totp.qr_data_uri(uri),
    )


async def start_enrolment(user_id: int, username: str) -> Enrolment:
    """A new, unconfirmed TOTP secret (replacing an earlier unconfirmed one).

    Raises ``AlreadyEnabled`` when TOTP is on: the working secret is never replaced by
    one that is not confirmed yet.
    """
    sealed = totp.seal(totp.new_secret())
    db = get_session()
    async with single_write(db):
        started = await queries.put_pending_totp(db, user_id=user_id, secret=sealed, now=utcnow())
    if not started:
        raise AlreadyEnabled
    return enrolment_of(sealed, username)


async def pending_enrolment(user_id: int, username: str) -> Enrolment | None:
    """The enrolment started and not confirmed yet, if any."""
    row = await queries.select_totp(get_session(), user_id)
    if row is None or row.confirmed_at is not None:
        return None
    return enrolment_of(row.secret, username)


async def confirm_enrolment(user_id: int, code: str) -> list[str] | None:
    """Switch TOTP on with a first right code; the 10 new recovery codes, or None.

    None when there is no enrolment to confirm or the code is wrong.
    """
    db = get_session()
    row = await queries.select_totp(db, user_id)
    await db.commit()
    if row is None or row.confirmed_at is not None or not is_totp_shaped(code):
        return None
    matched = totp.match(row.secret, code, last_counter=row.last_counter)
    if matched is None:
        return None
    fresh = codes.new_codes()
    async with write_transaction(db):
        confirmed = await queries.confirm_totp(
            db, user_id=user_id, secret=row.secret, counter=matched.counter, now=utcnow()
        )
        if not confirmed:
            return None  # another request confirmed (or restarted) it meanwhile
        await replace_recovery_codes(db, user_id, fresh)
        await log.record(db, user_id, "mfa_enabled")
        await notify(db, user_id, "mfa-enabled")
    return fresh


async def replace_recovery_codes(db: AsyncSession, user_id: int, fresh: list[str]) -> None:
    """Void the user's recovery codes and store ``fresh`` instead (in the caller's unit)."""
    await queries.delete_recovery_codes(db, user_id)
    await queries.insert_recovery_codes(
        db, user_id=user_id, hashes=[codes.code_hash(code) for code in fresh], now=utcnow()
    )


async def regenerate_recovery_codes(user_id: int) -> list[str]:
    """Ten new recovery codes, the old ones void; a notice is mailed.

    Raises ``NotEnabled`` when TOTP is off.
    """
    fresh = codes.new_codes()
    db = get_session()
    async with write_transaction(db):
        # Locked: two parallel regenerations must not leave both sets behind.
        if not await queries.totp_confirmed(db, user_id, lock=True):
            raise NotEnabled
        await replace_recovery_codes(db, user_id, fresh)
        # No log entry: §14 has no type for it and "mfa_disabled" would be untrue (TOTP
        # stays on); the mailed notice tells the owner.
        await notify(db, user_id, "mfa-recovery-codes")
    return fresh


async def disable_totp(user_id: int) -> bool:
    """Turn TOTP off and delete the recovery codes; True if it was on (then it is recorded
    and a notice is mailed). An unconfirmed enrolment is dropped either way."""
    db = get_session()
    async with write_transaction(db):
        was_on = await queries.totp_confirmed(db, user_id)
        await queries.delete_totp(db, user_id)
        await queries.delete_recovery_codes(db, user_id)
        if was_on:
            await log.record(db, user_id, "mfa_disabled")
            await notify(db, user_id, "mfa-disabled")
    return was_on


async def notify(db: AsyncSession, user_id: int, kind: str) -> None:
    """Mail the user notice ``kind`` (if they have a verified address), in the caller's unit."""
    user = await accounts.select_user(db, user_id)
    if user is not None:
        await queue_notice(db, user, kind)


# --- the login's second step ------------------------------------------------------------


def pending_token_hash(token: str) -> str:
    """What the database keeps of a pending login's token."""
    return hashlib.sha256(token.encode()).hexdigest()


def set_pending_cookie(token: str) -> None:
    """Give this client the pending login's token (HttpOnly, Lax, five minutes)."""

    @after_this_request
    async def set_cookie(response: ResponseTypes) -> ResponseTypes:
        response.set_cookie(
            PENDING_COOKIE,
            token,
            max_age=int(PENDING_LIFETIME.total_seconds()),
            path="/",
            secure=cookies_secure(),
            httponly=True,
            samesite="Lax",
        )
        return response


def clear_pending_cookie() -> None:
    """Tell the client to forget its pending login."""

    @after_this_request
    async def clear_cookie(response: ResponseTypes) -> ResponseTypes:
        response.delete_cookie(
            PENDING_COOKIE,
            path="/",
            secure=cookies_secure(),
            httponly=True,
            samesite="Lax",
        )
        return response


def pending_token() -> str | None:
    """The pending login token this client holds, if any."""
    return request.cookies.get(PENDING_COOKIE) or None


async def start_pending_login(user: User, *, remember: bool) -> None:
    """The password was right and a second factor is due: no session yet, only a pending
    login bound to this client by a cookie, for five minutes and five attempts."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db = get_session()
    async with write_transaction(db):
        await queries.delete_expired_pending_logins(db, user_id=user.id, now=now)
        await queries.insert_pending_login(
            db,
            user_id=user.id,
            token_hash=pending_token_hash(token),
            now=now,
            expires_at=now + PENDING_LIFETIME,
            remember=remember,
        )
    set_pending_cookie(token)


async def has_pending_login() -> bool:
    """Whether this client holds a live pending login (to show the code form)."""
    token = pending_token()
    if token is None:
        return False
    db = get_session()
    return await queries.pending_login_is_live(db, pending_token_hash(token), now=utcnow())


async def finish_pending_login(code: str) -> tuple[User, bool]:
    """Check the second factor of this client's pending login: its user and remember flag.

    The attempt is counted before the code is checked, so parallel guesses cannot make
    more than five. Raises ``InvalidCode`` (try again) or ``LoginExpired`` (start over:
    none, lapsed, or that was the fifth wrong code). The caller starts the session.
    """
    token = pending_token()
    if token is None:
        raise LoginExpired
    db = get_session()
    async with single_write(db):
        pending = await queries.count_pending_attempt(
            db, token_hash=pending_token_hash(token), now=utcnow()
        )
    if pending is None:
        clear_pending_cookie()
        raise LoginExpired
    if pending.attempts > PENDING_ATTEMPTS:
        await end_pending_login(pending.id)
        raise LoginExpired
    if not await check_code(pending.user_id, code):
        await record_failed_code(pending.user_id)
        if pending.attempts >= PENDING_ATTEMPTS:
            await end_pending_login(pending.id)
            raise LoginExpired
        raise InvalidCode
    # Removing the row is the last step: only the request that removes it logs in.
    if not await end_pending_login(pending.id):
        raise LoginExpired
    user = await accounts.select_user(db, pending.user_id)
    if user is None:
        raise LoginExpired
    return user, pending.remember


async def record_failed_code(user_id: int) -> None:
    """Log a wrong code at the login's second step: whoever typed it knew the password."""
    db = get_session()
    async with single_write(db):
        await log.record(db, user_id, "login_failed")


async def end_pending_login(pending_id: int) -> bool:
    """Delete a pending login and clear its cookie; True if this call removed the row."""
    db = get_session()
    async with single_write(db):
        removed = await queries.delete_pending_login(db, pending_id)
    clear_pending_cookie()
    return removed


# --- the administrator's reset ----------------------------------------------------------


async def reset_second_factor(db: AsyncSession, user_id: int) -> Reset:
    """Remove every second factor of the user and end all their sessions, in one unit.

    For the user who lost every factor (the ``quart-blog reset-2fa`` command): TOTP,
    recovery codes, passkeys and pending logins go, every session is revoked (so whoever
    holds one must log in again, with the password only), and ``mfa_disabled`` is recorded.
    """
    async with write_transaction(db):
        removed = Reset(
            totp=await queries.delete_totp(db, user_id),
            recovery_codes=await queries.delete_recovery_codes(db, user_id),
            passkeys=await queries.delete_passkeys(db, user_id),
            pending_logins=await queries.delete_pending_logins(db, user_id),
            sessions=await accounts.delete_all_sessions(db, user_id=user_id),
        )
        await log.record(db, user_id, "mfa_disabled")
        await notify(db, user_id, "mfa-reset")
    return removed
