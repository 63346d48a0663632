"""Recording security events: one INSERT inside the caller's unit of work (SPEC §14).

Callers record an event in the same transaction as the change it describes, so the
log never shows a change that was rolled back, nor misses one that was committed.
"""

from __future__ import annotations

from typing import Final

from quart import has_request_context, request
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.clock import utcnow
from quart_blog.events.models import AuthEvent

EVENT_TYPES: Final = frozenset(
    {
        "login",
        "login_failed",
        "logout",
        "password_changed",
        "password_reset",
        "email_changed",
        "email_verified",
        "mfa_enabled",
        "mfa_disabled",
        "recovery_code_used",
        "passkey_added",
        "passkey_removed",
        "sessions_revoked",
        "token_created",
        "token_revoked",
    }
)
ADDRESS_MAX = 64
USER_AGENT_MAX = 200


async def record(db: AsyncSession, user_id: int, event_type: str) -> None:
    """Add ``event_type`` to the user's log, from this request's client and browser.

    The client address is ``request.remote_addr``: the socket peer, or what Hypercorn's
    ProxyFix took from ``X-Forwarded-For`` across ``TRUSTED_PROXIES`` hops only. Outside
    a request (a CLI command) both are empty.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown security event type {event_type!r}")
    address = user_agent = ""
    if has_request_context():
        address = (request.remote_addr or "")[:ADDRESS_MAX]
        user_agent = request.headers.get("User-Agent", "")[:USER_AGENT_MAX]
    await db.execute(
        insert(AuthEvent).values(
            user_id=user_id,
            type=event_type,
            created_at=utcnow(),
            address=address,
            user_agent=user_agent,
        )
    )
