"""Where the logged-in user's API tokens are made, listed and revoked (SPEC §14).

Pages and API both call these. Each acts for the request's session and puts that
user's id into every statement; creating and revoking record their security event in
the same unit of work as the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from quart_blog.accounts.sessions import current_session
from quart_blog.clock import utcnow
from quart_blog.db import get_session, write_transaction
from quart_blog.events.log import record
from quart_blog.tokens import queries
from quart_blog.tokens.bearer import hash_token, new_token
from quart_blog.tokens.models import ApiToken
from quart_blog.tokens.policy import SCOPES
from quart_blog.validation import text_problem

NAME_MAX = 64
DAYS_MIN, DAYS_MAX = 1, 365
# Live tokens a user may hold at once: enough for every script, and a bound on the table.
MAX_LIVE_TOKENS = 50


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as its owner sees it in a list: never the secret, never the hash."""

    id: int
    name: str
    scope: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just made: its details and the secret, which is shown this once."""

    info: TokenInfo
    token: str


class TooManyTokens(Exception):
    """The user already holds ``MAX_LIVE_TOKENS`` live tokens."""


def token_info(row: ApiToken) -> TokenInfo:
    """What of a row its owner may see."""
    return TokenInfo(
        id=row.id,
        name=row.name,
        scope=row.scope,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


def clean_name(name: str) -> tuple[str, str | None]:
    """The trimmed name and why it is not acceptable, or ``None``."""
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= NAME_MAX:
        return trimmed, f"Name must be 1-{NAME_MAX} characters (after trimming spaces)."
    return trimmed, text_problem("Name", trimmed)


def scope_problem(scope: str) -> str | None:
    """Why ``scope`` is not one of ours, or ``None``."""
    return None if scope in SCOPES else "Scope must be 'read' or 'write'."


def days_problem(days: int) -> str | None:
    """Why ``days`` is not an acceptable lifetime, or ``None``."""
    if not DAYS_MIN <= days <= DAYS_MAX:
        return f"A token lasts {DAYS_MIN}-{DAYS_MAX} days."
    return None


async def create_token(*, name: str, scope: str, expires_in_days: int) -> NewToken:
    """Make a token for the logged-in user (arguments already checked; see ``clean_name``).

    Raises ``TooManyTokens`` when the user holds ``MAX_LIVE_TOKENS`` already.
    """
    active = await current_session()
    token = new_token()
    now = utcnow()
    db = get_session()
    async with write_transaction(db):
        await queries.delete_expired_tokens(db, user_id=active.user_id, now=now)
        if await queries.count_live_tokens(db, user_id=active.user_id, now=now) >= MAX_LIVE_TOKENS:
            raise TooManyTokens
        row = await queries.insert_token(
            db,
            user_id=active.user_id,
            name=name,
            scope=scope,
            token_hash=hash_token(token),
            now=now,
            expires_at=now + timedelta(days=expires_in_days),
        )
        await record(db, active.user_id, "token_created")
    return NewToken(token_info(row), token)


async def list_tokens() -> list[TokenInfo]:
    """The logged-in user's live tokens, newest first."""
    active = await current_session()
    rows = await queries.select_user_tokens(get_session(), user_id=active.user_id, now=utcnow())
    return [token_info(row) for row in rows]


async def revoke_token(token_id: int) -> bool:
    """Revoke one of the logged-in user's tokens; false when they have no such token.

    The next request with it fails, on every worker and instance: tokens are looked up
    on every request.
    """
    active = await current_session()
    db = get_session()
    async with write_transaction(db):
        revoked = await queries.delete_token(db, token_id=token_id, user_id=active.user_id)
        if revoked:
            await record(db, active.user_id, "token_revoked")
    return revoked
