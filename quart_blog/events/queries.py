"""Every SQL statement on ``auth_events`` but the INSERT (``log.record``), as typed functions.

A user's own id is in the WHERE clause of every read; pages walk ``(user_id, id)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.db import Prepared
from quart_blog.events.models import AuthEvent


class EventRow(NamedTuple):
    """One entry of the log as stored (the device name is made from ``user_agent``)."""

    id: int
    type: str
    created_at: datetime
    address: str
    user_agent: str


_COLUMNS = (AuthEvent.id, AuthEvent.type, AuthEvent.created_at, AuthEvent.address)
_NEWEST = (
    select(*_COLUMNS, AuthEvent.user_agent)
    .where(AuthEvent.user_id == bindparam("user_id"))
    .order_by(AuthEvent.id.desc())
    .limit(bindparam("limit"))
)
NEWEST_FIRST = Prepared(_NEWEST, EventRow)
NEWEST_BEFORE = Prepared(_NEWEST.where(AuthEvent.id < bindparam("before")), EventRow)
# The export reads the whole log oldest first, a batch at a time.
OLDEST_AFTER = Prepared(
    select(*_COLUMNS, AuthEvent.user_agent)
    .where(AuthEvent.user_id == bindparam("user_id"), AuthEvent.id > bindparam("after"))
    .order_by(AuthEvent.id)
    .limit(bindparam("limit")),
    EventRow,
)


async def select_events(
    session: AsyncSession, *, user_id: int, before: int | None, limit: int
) -> list[EventRow]:
    """Up to ``limit`` of the user's events, newest first, older than ``before`` if given."""
    if before is None:
        return await NEWEST_FIRST.all(session, {"user_id": user_id, "limit": limit})
    values = {"user_id": user_id, "limit": limit, "before": before}
    return await NEWEST_BEFORE.all(session, values)


async def select_events_after(
    session: AsyncSession, *, user_id: int, after: int, limit: int
) -> list[EventRow]:
    """Up to ``limit`` of the user's events with an id above ``after``, oldest first."""
    return await OLDEST_AFTER.all(session, {"user_id": user_id, "after": after, "limit": limit})


async def delete_events_before(session: AsyncSession, *, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` events (anyone's) recorded before ``cutoff``; return how many.

    One statement, so a batch holds SQLite's write lock only while it runs.
    """
    batch = select(AuthEvent.id).where(AuthEvent.created_at < cutoff).limit(limit)
    result = await session.execute(
        delete(AuthEvent).where(AuthEvent.id.in_(batch.scalar_subquery()))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
