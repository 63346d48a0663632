"""Bearer authentication: an API token in ``Authorization`` on a request under ``/api/v1``.

A token is 256 random bits behind the prefix ``qb_``, so secret scanners can recognise a
leaked one; the database keeps only its SHA-256. It is looked up on every request (one
compiled statement, like the session cookie's), so a revoked or expired token, or one of
a deleted account, fails at once on every worker and instance.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from quart import request

from quart_blog.clock import utcnow
from quart_blog.db import get_session, single_write
from quart_blog.tokens.queries import ActiveToken, select_active_token, update_last_used

TOKEN_PREFIX = "qb_"  # noqa: S105 (a prefix, not a secret)
# What ``new_token`` makes; anything else is refused before any lookup.
TOKEN_FORM = re.compile(r"qb_[A-Za-z0-9_-]{43}")
API_PREFIX = "/api/v1/"
SCHEME = "bearer"
# A token's last_used_at is written at most this often (like a session's last_seen_at):
# a write per request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def new_token() -> str:
    """A fresh API token: the prefix and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the database stores for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def presented() -> str | None:
    """The ``Authorization`` header of a request under ``/api/v1``, as sent; else ``None``.

    Pages ignore the header: only the API takes tokens.
    """
    if not request.path.startswith(API_PREFIX):
        return None
    # Read from the ASGI scope, where names are lower case: werkzeug's lookup of a header
    # that is absent, as this one is on nearly every request, raises and catches an error.
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            return value.decode("latin-1")
    return None


def parse(header: str) -> str | None:
    """The token of ``Bearer TOKEN`` (the scheme in any case), or ``None`` if it is not one."""
    scheme, _, credentials = header.strip().partition(" ")
    token = credentials.strip()
    if scheme.lower() != SCHEME or not TOKEN_FORM.fullmatch(token):
        return None
    return token


async def authenticate(header: str) -> ActiveToken | None:
    """The live token an ``Authorization`` header names; refreshes ``last_used_at`` at times."""
    token = parse(header)
    if token is None:
        return None
    now = utcnow()
    db = get_session()
    active = await select_active_token(db, token_hash=hash_token(token), now=now)
    if active is not None and (
        active.last_used_at is None or now - active.last_used_at >= LAST_USED_RESOLUTION
    ):
        async with single_write(db):
            await update_last_used(db, token_id=active.token_id, now=now)
    return active
