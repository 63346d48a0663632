"""The security log as its owner reads it: newest first, in words, with device names.

Pages and the API both call these; each acts for the request's logged-in user, whose
id goes into every query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from quart_blog.accounts.devices import device_names
from quart_blog.accounts.sessions import current_session
from quart_blog.db import get_session
from quart_blog.events import queries
from quart_blog.events.queries import EventRow

PAGE_LATEST = 50
# What each event type means, as the log page says it.
EVENT_WORDS: Final = {
    "login": "Logged in",
    "login_failed": "Failed login: wrong password",
    "logout": "Logged out",
    "password_changed": "Password changed",
    "password_reset": "Password reset by e-mail link",
    "email_changed": "New e-mail address requested",
    "email_verified": "E-mail address confirmed",
    "mfa_enabled": "Two-step login turned on",
    "mfa_disabled": "Two-step login turned off or reset, or its recovery codes replaced",
    "recovery_code_used": "Recovery code used",
    "passkey_added": "Passkey added",
    "passkey_removed": "Passkey removed",
    "sessions_revoked": "Other sessions logged out",
    "token_created": "API token created",
    "token_revoked": "API token revoked",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One entry as it is shown: what happened, when, from which address and device."""

    id: int
    type: str
    words: str
    created_at: datetime
    address: str | None  # None: recorded outside a request (an administrator's command)
    device: str
    user_agent: str


def in_words(event_type: str) -> str:
    """``"login_failed"`` as a person reads it."""
    return EVENT_WORDS.get(event_type, event_type.replace("_", " ").capitalize())


async def described(rows: Sequence[EventRow]) -> list[Event]:
    """The rows with their words and device names (each distinct User-Agent parsed once)."""
    names = await device_names(row.user_agent for row in rows)
    return [
        Event(
            id=row.id,
            type=row.type,
            words=in_words(row.type),
            created_at=row.created_at,
            address=row.address or None,
            device=names[row.user_agent],
            user_agent=row.user_agent,
        )
        for row in rows
    ]


async def page_of_events(*, before: int | None, limit: int) -> tuple[list[Event], int | None]:
    """Up to ``limit`` events, newest first, and the ``before`` of the next page (or None).

    The same keyset paging as the posts list: one row more than asked tells whether
    another page follows.
    """
    active = await current_session()
    rows = await queries.select_events(
        get_session(), user_id=active.user_id, before=before, limit=limit + 1
    )
    page = rows[:limit]
    return await described(page), (page[-1].id if len(rows) > limit else None)


async def latest_events(limit: int = PAGE_LATEST) -> list[Event]:
    """The user's latest ``limit`` events, newest first."""
    page, _next = await page_of_events(before=None, limit=limit)
    return page
