"""Ceremony challenges: issued to one client, good for two minutes, redeemed once.

Each ceremony (register, login, reauth) gets a row holding its random challenge and the
SHA-256 of a token that only the browser that asked holds, in an HttpOnly, SameSite=Strict
cookie scoped to the passkey API. Redeeming is one ``DELETE ... RETURNING``, so a
response can be checked against its challenge once, by that client, and never replayed;
on another instance or worker too, as the row is in the shared database.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Final

from quart import after_this_request, request
from quart.typing import ResponseTypes
from webauthn.helpers import generate_challenge

from quart_blog.accounts.sessions import cookies_secure, hash_token
from quart_blog.clock import utcnow
from quart_blog.db import get_session, single_write, write_transaction
from quart_blog.passkeys import queries

REGISTER: Final = "register"
LOGIN: Final = "login"
REAUTH: Final = "reauth"
LIFETIME = timedelta(minutes=2)
COOKIE_PATH = "/api/v1/passkeys"
# What ``secrets.token_urlsafe(32)`` makes; anything else is not one of ours.
TOKEN_FORM = re.compile(r"[A-Za-z0-9_-]{43}")


def cookie_name(purpose: str) -> str:
    """One cookie per kind of ceremony: a login begun in one tab leaves a reauth alone."""
    return f"quart_blog_webauthn_{purpose}"


def client_token(purpose: str) -> str | None:
    """This client's token for a ``purpose`` ceremony, if it sent a well-formed one."""
    token = request.cookies.get(cookie_name(purpose), "")
    return token if TOKEN_FORM.fullmatch(token) else None


async def begin(purpose: str, *, user_id: int | None) -> bytes:
    """Start a ceremony for this client (and ``user_id``, when logged in): its challenge.

    The response carries the cookie. The client's previous ceremony of the same kind, and
    everyone's expired ones, are dropped in the same unit of work.
    """
    token = secrets.token_urlsafe(32)
    challenge = generate_challenge()
    previous = client_token(purpose)
    now = utcnow()
    db = get_session()
    async with write_transaction(db):
        await queries.delete_expired_challenges(db, now=now)
        if previous is not None:
            await queries.delete_challenge(db, token_hash=hash_token(previous))
        await queries.insert_challenge(
            db,
            token_hash=hash_token(token),
            purpose=purpose,
            user_id=user_id,
            challenge=challenge,
            now=now,
            expires_at=now + LIFETIME,
        )

    @after_this_request
    async def set_cookie(response: ResponseTypes) -> ResponseTypes:
        response.set_cookie(
            cookie_name(purpose),
            token,
            max_age=int(LIFETIME.total_seconds()),
            path=COOKIE_PATH,
            secure=cookies_secure(),
            httponly=True,
            samesite="Strict",
        )
        return response

    return challenge


async def redeem(purpose: str, *, user_id: int | None) -> bytes | None:
    """Use up this client's ``purpose`` challenge; ``None`` if missing, used or expired.

    For a logged-in ceremony the challenge must have been issued to the same user. The
    cookie is cleared whatever the outcome: the challenge can never work again.
    """

    @after_this_request
    async def clear_cookie(response: ResponseTypes) -> ResponseTypes:
        response.delete_cookie(
            cookie_name(purpose),
            path=COOKIE_PATH,
            secure=cookies_secure(),
            httponly=True,
            samesite="Strict",
        )
        return response

    token = client_token(purpose)
    if token is None:
        return None
    db = get_session()
    async with single_write(db):
        row = await queries.redeem_challenge(db, token_hash=hash_token(token), purpose=purpose)
    if row is None or row.expires_at <= utcnow() or row.user_id != user_id:
        return None
    return row.challenge
