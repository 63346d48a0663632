"""Every SQL statement on ``outbox_messages``, as typed async functions.

A message is queued in the caller's transaction, so it exists exactly when the change
that causes it was committed. Senders claim due rows with a lease in one statement
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time), so two
workers or two instances never hold the same row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from quart import g, has_request_context
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.clock import utcnow
from quart_blog.mail.messages import Draft
from quart_blog.mail.models import OutboxMessage

ERROR_MAX = 500
QUEUED_FLAG = "quart_blog_mail_queued"  # on ``g``: this request queued a message


class Claimed(NamedTuple):
    """A row this sender holds until its lease runs out."""

    id: int
    kind: str
    recipient: str
    subject: str
    text_body: str
    html_body: str
    created_at: datetime
    attempts: int


class Queued(NamedTuple):
    """A row not yet delivered, for ``quart-blog mail list``."""

    id: int
    kind: str
    recipient: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    failed_at: datetime | None
    last_error: str | None


async def queue(session: AsyncSession, draft: Draft) -> None:
    """Add ``draft`` to the outbox in the caller's transaction."""
    queue_row(session, kind=draft.kind, recipient=draft.recipient, draft=draft)
    await session.flush()


def queue_row(session: AsyncSession, *, kind: str, recipient: str, draft: Draft | None) -> None:
    """Add a row; without a draft it is a request that a claim hook turns into a message."""
    now = utcnow()
    session.add(
        OutboxMessage(
            kind=kind,
            recipient=recipient,
            subject=draft.subject if draft else "",
            text_body=draft.text if draft else "",
            html_body=draft.html if draft else "",
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )
    if has_request_context():
        setattr(g, QUEUED_FLAG, True)


def is_due(now: datetime) -> list[object]:
    """Undelivered, not refused, its time come, and no live lease on it."""
    return [
        OutboxMessage.sent_at.is_(None),
        OutboxMessage.failed_at.is_(None),
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    ]


async def claim_due(
    session: AsyncSession, *, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Lease up to ``limit`` due rows, oldest first, in one statement."""
    due = and_(*is_due(now))  # type: ignore[arg-type]
    picked = (
        select(OutboxMessage.id)
        .where(due)
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(OutboxMessage)
        # The due test again: a row another sender claimed meanwhile is not taken twice.
        .where(OutboxMessage.id.in_(picked.scalar_subquery()), due)
        .values(claimed_until=now + lease)
        .returning(
            OutboxMessage.id,
            OutboxMessage.kind,
            OutboxMessage.recipient,
            OutboxMessage.subject,
            OutboxMessage.text_body,
            OutboxMessage.html_body,
            OutboxMessage.created_at,
            OutboxMessage.attempts,
        )
    )
    return sorted((Claimed._make(row) for row in result.all()), key=lambda row: row.id)


async def fill_in(session: AsyncSession, *, message_id: int, draft: Draft) -> None:
    """Turn a claimed request row into the message a claim hook composed for it."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(
            kind=draft.kind,
            recipient=draft.recipient,
            subject=draft.subject,
            text_body=draft.text,
            html_body=draft.html,
        )
    )


async def mark_sent(session: AsyncSession, *, message_id: int, now: datetime) -> None:
    """Delivered: keep the row for the record, wipe the bodies (they may hold a token)."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(sent_at=now, claimed_until=None, text_body="", html_body="", last_error=None)
    )


async def release(session: AsyncSession, *, message_ids: list[int]) -> None:
    """Hand claimed rows back untouched (a sender stopping before it reached them)."""
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(message_ids)).values(claimed_until=None)
    )


async def mark_dropped(session: AsyncSession, *, message_id: int, now: datetime) -> None:
    """A request row that needs no message (say, a reset for an unknown address)."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(sent_at=now, claimed_until=None, last_error="nothing to send")
    )


async def mark_retry(
    session: AsyncSession, *, message_id: int, attempts: int, retry_at: datetime, error: str
) -> None:
    """Not delivered this time: try again at ``retry_at``."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(
            attempts=attempts,
            next_attempt_at=retry_at,
            claimed_until=None,
            last_error=error[:ERROR_MAX],
        )
    )


async def mark_refused(
    session: AsyncSession, *, message_id: int, attempts: int, now: datetime, error: str
) -> None:
    """The mail server refused the message for good; it stays for ``quart-blog mail``."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(attempts=attempts, failed_at=now, claimed_until=None, last_error=error[:ERROR_MAX])
    )


async def select_undelivered(session: AsyncSession, *, limit: int) -> list[Queued]:
    """Rows not yet delivered (queued, retrying, or refused), oldest first."""
    result = await session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.kind,
            OutboxMessage.recipient,
            OutboxMessage.created_at,
            OutboxMessage.attempts,
            OutboxMessage.next_attempt_at,
            OutboxMessage.failed_at,
            OutboxMessage.last_error,
        )
        .where(OutboxMessage.sent_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return [Queued._make(row) for row in result.all()]


async def count_undelivered(session: AsyncSession) -> int:
    """How many rows are not yet delivered."""
    result = await session.execute(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
    )
    return int(result.scalar_one())


async def make_due_now(session: AsyncSession, *, now: datetime, ids: list[int] | None) -> int:
    """Retry undelivered rows (refused ones too) at once; leased rows are left alone."""
    conditions = [
        OutboxMessage.sent_at.is_(None),
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    ]
    if ids is not None:
        conditions.append(OutboxMessage.id.in_(ids))
    result = await session.execute(
        update(OutboxMessage).where(*conditions).values(next_attempt_at=now, failed_at=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_sent_before(session: AsyncSession, *, before: datetime) -> int:
    """Forget delivered rows older than ``before`` (the table would grow without end)."""
    result = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.sent_at.is_not(None), OutboxMessage.sent_at < before
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
