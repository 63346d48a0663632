"""The background sender: each serving process delivers what the outbox holds.

It wakes when a request of its own process queued a message, and otherwise polls, so a
message queued by another worker or instance waits at most ``POLL_INTERVAL_S``. A batch
is claimed with a lease and delivered over one connection; a delivery that fails is
retried with exponential backoff (capped) while the mail server is down, and a message
the server refuses for good is kept, marked, for ``quart-blog mail``.

Sent once: a row is marked sent right after the server accepted it. Only a crash
between the two (the process killed in that instant, or the database lost) repeats a
message, once its lease runs out; the repeat has the same ``Message-ID``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import timedelta

import aiosmtplib
from quart import Quart
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog import clock
from quart_blog.clock import utcnow
from quart_blog.db import single_write, write_transaction
from quart_blog.db.database import new_session
from quart_blog.mail import outbox
from quart_blog.mail.messages import Draft, build_email
from quart_blog.mail.outbox import Claimed
from quart_blog.mail.transport import Deliver, Refused, Transport

POLL_INTERVAL_S = 1.0
BATCH = 10
# Longer than a batch can take (each SMTP step times out after 20 s), so a live sender
# never loses its rows to another.
LEASE = timedelta(minutes=10)
FIRST_RETRY = timedelta(seconds=2)
LAST_RETRY = timedelta(minutes=15)
STOP_WAIT_S = 10.0
# Delivered rows are kept this long for the record, then deleted (checked hourly).
KEEP_SENT = timedelta(days=30)
PRUNE_EVERY_S = 3600.0

# Turns a request row (queued without a body) into its message, or None: nothing to send.
ClaimHook = Callable[[AsyncSession, Claimed], Awaitable[Draft | None]]


def retry_delay(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s ... up to 15 minutes after the ``attempts``-th failure."""
    return min(FIRST_RETRY * (1 << min(attempts - 1, 20)), LAST_RETRY)


class MailSender:
    """One per serving process: claims due rows and delivers them."""

    def __init__(self, app: Quart, transport: Transport, logger: logging.Logger) -> None:
        self.app = app
        self.transport = transport
        self.logger = logger
        self.claim_hooks: dict[str, ClaimHook] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._pruned_at = float("-inf")  # clock.monotonic() of the last prune
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look at the outbox now (a request of this process queued something)."""
        self._wake.set()

    async def while_serving(self) -> AsyncGenerator[None, None]:
        """Deliver while the app serves (a Quart ``while_serving`` generator)."""
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mail sender")
        yield
        await self.stop()

    async def stop(self) -> None:
        """Stop after the message being delivered; cancel after ``STOP_WAIT_S``.

        Rows claimed but not reached are handed back, so another process (or this one,
        restarted) sends them at once rather than when their lease runs out.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        _done, running = await asyncio.wait([task], timeout=STOP_WAIT_S)
        if running:
            task.cancel()
            await asyncio.wait([task])

    async def _run(self) -> None:
        async with self.app.app_context():
            while not self._stopping:
                self._wake.clear()
                try:
                    while await self.deliver_due():
                        pass
                    await self.prune()
                except (SQLAlchemyError, OSError) as error:
                    # The database is away: the rows wait in it; look again at the next poll.
                    self.logger.warning("mail: cannot read the outbox: %s", error)
                except Exception:
                    # A bug must not end delivery for the life of the process: say so and go
                    # on (the batch's rows come back when their lease runs out).
                    self.logger.exception("mail: delivery failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL_S)

    async def prune(self) -> None:
        """Delete rows delivered more than ``KEEP_SENT`` ago, at most once per hour."""
        if clock.monotonic() - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = clock.monotonic()
        db = new_session()
        try:
            async with single_write(db):
                await outbox.delete_sent_before(db, before=utcnow() - KEEP_SENT)
        finally:
            await db.close()

    async def deliver_due(self) -> int:
        """Claim one batch of due rows and deliver it; return how many were claimed."""
        db = new_session()
        try:
            async with single_write(db):
                batch = await outbox.claim_due(db, now=utcnow(), lease=LEASE, limit=BATCH)
            if batch:
                await self._deliver(db, [await self._prepared(db, row) for row in batch])
            return len(batch)
        finally:
            await db.close()

    async def _prepared(self, db: AsyncSession, row: Claimed) -> Claimed | None:
        """The row as a message to send, running its claim hook first if it has one."""
        hook = self.claim_hooks.get(row.kind)
        if hook is None:
            return row
        async with write_transaction(db):
            draft = await hook(db, row)
            if draft is None:
                await outbox.mark_dropped(db, message_id=row.id, now=utcnow())
                return None
            await outbox.fill_in(db, message_id=row.id, draft=draft)
        return row._replace(
            kind=draft.kind,
            recipient=draft.recipient,
            subject=draft.subject,
            text_body=draft.text,
            html_body=draft.html,
        )

    async def _deliver(self, db: AsyncSession, rows: list[Claimed | None]) -> None:
        pending = [row for row in rows if row is not None]
        if not pending:
            return
        try:
            async with self.transport.connection() as deliver:
                while pending and not self._stopping:
                    await self._deliver_one(db, deliver, pending[0])
                    pending.pop(0)
        except (aiosmtplib.SMTPException, OSError) as error:
            # The server is down or dropped us: every row not yet handled waits and retries.
            for row in pending:
                await self._retry_later(db, row, error)
            return
        if pending:  # stopping
            async with single_write(db):
                await outbox.release(db, message_ids=[row.id for row in pending])

    async def _deliver_one(self, db: AsyncSession, deliver: Deliver, row: Claimed) -> None:
        email = build_email(
            message_id=row.id,
            created_at=row.created_at,
            recipient=row.recipient,
            subject=row.subject,
            text=row.text_body,
            html=row.html_body,
        )
        try:
            await deliver(email, f"{row.created_at:%Y%m%dT%H%M%S}-{row.id}-{row.kind}")
        except Refused as error:
            self.logger.error(
                "mail: %s #%d to %s refused: %s", row.kind, row.id, row.recipient, error
            )
            async with single_write(db):
                await outbox.mark_refused(
                    db, message_id=row.id, attempts=row.attempts + 1, now=utcnow(), error=str(error)
                )
            return
        async with single_write(db):
            await outbox.mark_sent(db, message_id=row.id, now=utcnow())

    async def _retry_later(self, db: AsyncSession, row: Claimed, error: BaseException) -> None:
        attempts = row.attempts + 1
        delay = retry_delay(attempts)
        reason = str(error) or type(error).__name__
        self.logger.warning(
            "mail: %s #%d not delivered (attempt %d, next in %ds): %s",
            row.kind,
            row.id,
            attempts,
            delay.total_seconds(),
            reason,
        )
        async with single_write(db):
            await outbox.mark_retry(
                db,
                message_id=row.id,
                attempts=attempts,
                retry_at=utcnow() + delay,
                error=reason,
            )
