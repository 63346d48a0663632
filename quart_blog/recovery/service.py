"""Where account recovery happens: verified addresses, forgotten passwords, their notices.

Views call these and nothing else, as they call ``accounts.auth`` for logging in.
Each change and the message it causes are one unit of work: the message is queued
in the outbox in the same transaction (SPEC §11), never sent inline.
"""

from __future__ import annotations

from quart import Quart
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog import mail
from quart_blog.accounts import queries
from quart_blog.accounts.models import User
from quart_blog.accounts.passwords import get_hasher as hasher
from quart_blog.accounts.sessions import current_session
from quart_blog.clock import utcnow
from quart_blog.db import get_session, single_write, write_transaction
from quart_blog.events import log
from quart_blog.recovery import tokens
from quart_blog.security import limits
from quart_blog.tokens import queries as api_tokens

# The outbox row a forgot-password request queues; the sender turns it into the message.
RESET_REQUEST = "password-reset-request"


class EmailTaken(Exception):
    """Another account already has this address."""


class WrongPassword(Exception):
    """The current password given to confirm a change is wrong."""


def init_app(app: Quart) -> None:
    """Let the mail sender compose reset messages for queued forgot-password requests."""
    mail.on_claim(app, RESET_REQUEST, compose_reset_message)


async def queue_verification(db: AsyncSession, user: User, email: str) -> None:
    """Mail a link that makes ``email`` the user's verified address (in the caller's unit)."""
    token = await tokens.issue(db, user_id=user.id, purpose=tokens.VERIFY, email=email)
    await mail.queue_message(
        db,
        "verify-email",
        email,
        username=user.username,
        email=email,
        link=mail.public_link("/verify-email", token=token),
    )


async def queue_notice(db: AsyncSession, user: User, kind: str, **context: str) -> None:
    """Tell the user about a change to their account, at their verified address."""
    if user.email is not None and user.email_verified_at is not None:
        await mail.queue_message(
            db, kind, user.email, username=user.username, when=mail.when(utcnow()), **context
        )


async def change_email(email: str, current_password: str) -> None:
    """Mail a verification link to ``email`` and a notice to the old address.

    The account keeps its old address until the link is used. Raises ``WrongPassword``
    or ``EmailTaken``.
    """
    active = await current_session()
    # A password check like any other: a stolen cookie must not make it a guessing oracle.
    attempt = await limits.count_login_attempt(active.username)
    db = get_session()
    user = await queries.select_user(db, active.user_id)
    await db.commit()  # no snapshot pinned while bcrypt runs
    if user is None or not (await hasher().verify(current_password, user.password_hash)).ok:
        raise WrongPassword
    await attempt.succeeded()
    async with write_transaction(db):
        if await queries.email_taken(db, email, by_other_than=user.id):
            raise EmailTaken(email)
        await queue_verification(db, user, email)
        await log.record(db, user.id, "email_changed")
        if user.email is not None and user.email.lower() != email.lower():
            # To the old address, verified or not: it is the one the owner may still read.
            await mail.queue_message(
                db,
                "email-changed",
                user.email,
                username=user.username,
                new_email=email,
                when=mail.when(utcnow()),
            )


async def verify_email(token: str) -> bool:
    """Use a verification link: its address becomes the account's, verified.

    False for a bad, used, voided or expired token, and when another account took the
    address since the link was sent.
    """
    db = get_session()
    try:
        async with write_transaction(db):
            redeemed = await tokens.redeem(db, purpose=tokens.VERIFY, token=token)
            if redeemed is None or redeemed.email is None:
                return False
            user = await queries.select_user(db, redeemed.user_id)
            if user is None or await queries.email_taken(db, redeemed.email, by_other_than=user.id):
                return False
            await queries.update_verified_email(
                db, user_id=user.id, email=redeemed.email, now=utcnow()
            )
            user.email, user.email_verified_at = redeemed.email, utcnow()
            await log.record(db, user.id, "email_verified")
            await queue_notice(db, user, "email-verified", email=redeemed.email)
    except IntegrityError:  # the address was taken in the same instant
        return False
    return True


async def request_password_reset(email: str) -> None:
    """Queue a reset for ``email``, known or not: the request does the same work either way.

    Limited per client address and per target address (``RateLimitExceeded``: 429).
    """
    await limits.count_forgot_password(email)
    db = get_session()
    async with single_write(db):
        await mail.queue_request(db, RESET_REQUEST, email)


async def compose_reset_message(db: AsyncSession, row: mail.Claimed) -> mail.Draft | None:
    """The sender's hook for a queued reset request: a link, if the address is a verified one.

    Runs in the sender's unit of work, which also fills the row in with the message.
    """
    user = await queries.select_user_by_verified_email(db, row.recipient)
    if user is None or user.email is None:
        return None
    token = await tokens.issue(db, user_id=user.id, purpose=tokens.RESET, email=None)
    return await mail.compose(
        "password-reset",
        user.email,
        username=user.username,
        link=mail.public_link("/reset-password", token=token),
    )


async def verification_link_is_live(token: str) -> bool:
    """Whether a verification link can still be used (to show its page, not to use it)."""
    return await tokens.is_live(get_session(), purpose=tokens.VERIFY, token=token)


async def reset_link_is_live(token: str) -> bool:
    """Whether a reset link can still be used (to show the form, not to use it)."""
    return await tokens.is_live(get_session(), purpose=tokens.RESET, token=token)


async def reset_password(token: str, new_password: str) -> bool:
    """Use a reset link: set the password, end **every** session and API token, mail a notice.

    False for a bad, used, voided or expired token.
    """
    db = get_session()
    if not await tokens.is_live(db, purpose=tokens.RESET, token=token):
        return False  # no hashing for a link that cannot work
    await db.commit()
    new_hash = await hasher().hash(new_password)
    async with write_transaction(db):
        redeemed = await tokens.redeem(db, purpose=tokens.RESET, token=token)
        user = None if redeemed is None else await queries.select_user(db, redeemed.user_id)
        if user is None:
            return False
        await queries.update_password_hash(db, user_id=user.id, password_hash=new_hash)
        await queries.delete_all_sessions(db, user_id=user.id)
        # A reset is how an owner takes a stolen account back: no token made by whoever
        # had it may outlive it.
        await api_tokens.delete_all_tokens(db, user_id=user.id)
        await log.record(db, user.id, "password_reset")
        await queue_notice(db, user, "password-reset-done")
    return True
