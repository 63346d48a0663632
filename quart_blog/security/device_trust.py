"""Device trust (SPEC §13): a browser that has signed in to an account keeps its own budget.

Every successful login (``accounts.auth.log_in``: the password form, the API, the second
step and passkeys) gives the browser a long-lived cookie, signed with the app's keys,
that names the account and a random device id. While a distributed guess has the
account's password logins refused for everyone else, an attempt from such a browser is
counted in its device's own small bucket instead (``security.limits``), so the owner
still gets in.

The cookie is no credential: it opens nothing by itself and a password is still
needed. It names the account by id and creation time, so a cookie outlives neither its
account nor a later account that happens to reuse the id or the name.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from quart import after_this_request, request
from quart.typing import ResponseTypes

from quart_blog.accounts.models import User
from quart_blog.accounts.queries import select_user_by_username
from quart_blog.accounts.sessions import session_cookie
from quart_blog.config import get_settings
from quart_blog.db import end_read, get_session

COOKIE_NAME = "quart_blog_device"
LIFETIME = timedelta(days=365)
SALT = "quart-blog device cookie"


@dataclass(frozen=True)
class DeviceClaim:
    """What a valid device cookie says: this browser logged in to this account."""

    user_id: int
    account_stamp: int
    device_id: str

    def names(self, user: User) -> bool:
        """Whether the claim is about ``user`` (and not an older account with its id)."""
        return self.user_id == user.id and self.account_stamp == account_stamp(user)


def account_stamp(user: User) -> int:
    """The account's creation time in milliseconds: with the id, unique to one account."""
    return int(user.created_at.timestamp() * 1000)


def serializer() -> URLSafeTimedSerializer:
    """Signs with the first ``SECRET_KEY``, verifies with every configured one."""
    return URLSafeTimedSerializer(get_settings().signing_keys, salt=SALT)


def read_claim() -> DeviceClaim | None:
    """The claim of this request's device cookie, or ``None`` if absent, forged or expired."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    try:
        payload = serializer().loads(token, max_age=int(LIFETIME.total_seconds()))
    except BadData:
        return None
    return claim_from(payload)


def claim_from(payload: Any) -> DeviceClaim | None:
    """A claim from a verified payload of the expected shape, else ``None``."""
    if not isinstance(payload, dict):
        return None
    user_id, stamp, device_id = payload.get("u"), payload.get("c"), payload.get("d")
    if type(user_id) is not int or type(stamp) is not int or not isinstance(device_id, str):
        return None
    return DeviceClaim(user_id, stamp, device_id)


async def trusted_device(username: str) -> str | None:
    """The device id if this browser has signed in to ``username``'s account before.

    Only a request carrying a validly signed device cookie pays for the account lookup.
    """
    claim = read_claim()
    if claim is None:
        return None
    db = get_session()
    user = await select_user_by_username(db, username)
    await end_read(db)  # no connection pinned while the limit store uses its own
    return claim.device_id if user is not None and claim.names(user) else None


def remember_device(user: User) -> None:
    """Give this browser (or renew) its device cookie for ``user``, set on this response.

    A browser that already holds one for ``user`` keeps its device id, and so its budget.
    """
    claim = read_claim()
    device_id = claim.device_id if claim is not None and claim.names(user) else new_device_id()
    token = serializer().dumps({"u": user.id, "c": account_stamp(user), "d": device_id})
    secure = session_cookie.cookie_secure  # Secure exactly when the auth cookie is

    @after_this_request
    async def set_device_cookie(response: ResponseTypes) -> ResponseTypes:
        response.set_cookie(
            COOKIE_NAME,
            token,
            max_age=int(LIFETIME.total_seconds()),
            path="/",
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
        return response


def new_device_id() -> str:
    """A random device id (128 bits)."""
    return secrets.token_urlsafe(16)
