"""Your data in your hands: the export, and deleting the account (SPEC §14).

Pages and the API both call these, for the request's logged-in user only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, cast

from quart import Response, request, stream_with_context
from quart_auth import Unauthorized, logout_user
from quart_rate_limiter import RateLimit

from quart_blog.account_data import export, queries
from quart_blog.accounts import auth
from quart_blog.accounts.queries import select_user
from quart_blog.accounts.sessions import current_session
from quart_blog.db import end_read, get_session, write_transaction
from quart_blog.mfa import service as mfa
from quart_blog.recovery.service import queue_notice
from quart_blog.serving.requests import BlogRequest

CODE_NEEDED = "Two-step login is on: enter a code from your authenticator app, or a recovery code."
NOT_RIGHT = "That is not your password."
NOT_RIGHT_WITH_CODE = "That password or code is not right."
# An export reads every row of the account: a few a minute is plenty for a person.
EXPORT_PER_ADDRESS = RateLimit(10, timedelta(minutes=10))
# A slow client may take a while to read 100,000 posts (Quart's default is 60 s).
EXPORT_TIMEOUT_S = 900.0


class Refused(Exception):
    """The password (or the code) given to confirm the deletion is wrong or missing.

    ``field`` names the form field to mark: ``current_password`` or ``code``.
    """

    def __init__(self, message: str, field: str = "current_password") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


async def profile_json(user_id: int) -> dict[str, Any]:
    """The account itself: name, times, address, and which second factors it has."""
    db = get_session()
    user = await select_user(db, user_id)
    if user is None:  # deleted by another request a moment ago
        raise Unauthorized()
    passkeys = await queries.select_passkeys(db, user_id=user_id)
    return {
        "id": user.id,
        "username": user.username,
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
        "email": user.email,
        "email_verified": user.email_verified_at is not None,
        "email_verified_at": user.email_verified_at,
        "second_factor": {
            "totp": await mfa.totp_enabled(user_id),
            "recovery_codes_left": await queries.count_recovery_codes(db, user_id=user_id),
            "passkeys": [passkey._asdict() for passkey in passkeys],
        },
    }


async def export_document() -> tuple[str, AsyncIterator[bytes]]:
    """The username and the chunks of the logged-in user's export document.

    The chunks are written after the view has returned, in an app context of their own
    (``stream_with_context``) whose teardown closes the session they read with, also
    when the client leaves half-way: then the document stops at the next batch.
    """
    active = await current_session()
    profile = await profile_json(active.user_id)
    await end_read(get_session())
    stop = asyncio.Event()
    if isinstance(request, BlogRequest):
        request.on_abandon(stop.set)
    writer = cast(Callable[..., AsyncIterator[bytes]], stream_with_context(export.document))
    return active.username, writer(export.Owner(active.user_id, active.session_id), profile, stop)


async def export_response(*, download: bool) -> Response:
    """The streamed export document, as a download or as the API's JSON answer."""
    username, chunks = await export_document()
    response = Response(chunks, mimetype="application/json")
    response.timeout = EXPORT_TIMEOUT_S
    if download:
        # Usernames are letters, digits and ``_.-`` only: safe in a quoted filename.
        response.headers["Content-Disposition"] = (
            f'attachment; filename="quart-blog-{username}.json"'
        )
    return response


async def second_factor_on(user_id: int) -> bool:
    """Whether deleting the account needs a code as well as the password."""
    return await mfa.totp_enabled(user_id)


async def delete_account(current_password: str, code: str) -> None:
    """Delete the logged-in user's account, with everything that names it, and log out.

    Needs the current password, and a code (TOTP or recovery) when TOTP is on; raises
    ``Refused`` otherwise. One unit of work: the last notice is queued (the outbox row
    names no user, so it outlives the account), then the user row is deleted and every
    post, session, token, passkey, code, pending login, link and log entry goes with it
    (ON DELETE CASCADE). Sessions and tokens are looked up on every request, so each
    cookie and token of the account fails on its next request, on every worker.
    """
    active = await current_session()
    totp_on = await second_factor_on(active.user_id)
    if totp_on and not code.strip():
        raise Refused(CODE_NEEDED, "code")
    user = await auth.confirm_password(current_password)
    if user is None:
        raise Refused(NOT_RIGHT_WITH_CODE if totp_on else NOT_RIGHT)
    if totp_on and not await mfa.check_code(user.id, code):
        raise Refused(NOT_RIGHT_WITH_CODE)
    db = get_session()
    async with write_transaction(db):
        await queue_notice(db, user, "account-deleted")
        await queries.delete_user(db, user_id=user.id)
    logout_user()
