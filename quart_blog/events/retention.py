"""How long the security log keeps an entry, and the background task that forgets older ones.

An event is kept for ``RETENTION`` (365 days: a year of logins is enough to spot what
was not you, and an account's log stays bounded however long it lives). Every serving
process prunes at most once per ``PRUNE_EVERY_S``, starting ``FIRST_PRUNE_AFTER_S`` after
it starts serving (not in its first burst of requests), in batches of ``BATCH`` rows, one
DELETE each, so no batch holds SQLite's writer for long. Several workers or instances may
all prune: a batch deletes what is old at that moment, and running one twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from datetime import timedelta

from quart import Quart
from sqlalchemy.exc import SQLAlchemyError

from quart_blog import clock
from quart_blog.clock import utcnow
from quart_blog.db import get_session, single_write
from quart_blog.events import queries

RETENTION = timedelta(days=365)
PRUNE_EVERY_S = 3600.0
FIRST_PRUNE_AFTER_S = 60.0
BATCH = 1000
EXTENSION_KEY = "quart_blog.events.pruner"


async def prune_old_events(batch: int = BATCH) -> int:
    """Delete every event older than ``RETENTION``, a batch at a time; return how many.

    Runs in the caller's app context, on its session.
    """
    cutoff = utcnow() - RETENTION
    db = get_session()
    total = 0
    while True:
        async with single_write(db):
            deleted = await queries.delete_events_before(db, cutoff=cutoff, limit=batch)
        total += deleted
        if deleted < batch:
            return total
        await asyncio.sleep(0)  # let the requests of this process write between batches


class EventPruner:
    """One per serving process: prunes the security log now and then."""

    def __init__(self, app: Quart) -> None:
        self.app = app
        self.logger = logging.getLogger(f"{app.logger.name}.events")
        self._pruned_at = float("-inf")  # clock.monotonic() of the last prune
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def while_serving(self) -> AsyncGenerator[None, None]:
        """Prune while the app serves (a Quart ``while_serving`` generator)."""
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event pruner")
        yield
        self._stop.set()
        task, self._task = self._task, None
        await task

    async def _run(self) -> None:
        wait = FIRST_PRUNE_AFTER_S
        while not await self._stopped_within(wait):
            await self.prune_if_due()
            wait = PRUNE_EVERY_S

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait up to ``seconds``; true when serving stops meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    async def prune_if_due(self) -> int | None:
        """Prune unless this process did within ``PRUNE_EVERY_S``: how many went, or None."""
        if clock.monotonic() - self._pruned_at < PRUNE_EVERY_S:
            return None
        self._pruned_at = clock.monotonic()
        try:
            # An app context of its own: its session is closed when the context ends.
            async with self.app.app_context():
                deleted = await prune_old_events()
        except (SQLAlchemyError, OSError) as error:
            # The database is away: the old rows wait for the next prune.
            self.logger.warning("events: cannot prune the security log: %s", error)
            return None
        except Exception:
            # A bug must not end pruning for the life of the process: say so, try next time.
            self.logger.exception("events: pruning the security log failed")
            return None
        if deleted:
            self.logger.info(
                "events: pruned %d entries older than %d days", deleted, RETENTION.days
            )
        return deleted


def init_app(app: Quart) -> None:
    """Give ``app`` its pruner, run while the app serves."""
    pruner = app.extensions[EXTENSION_KEY] = EventPruner(app)
    app.while_serving(pruner.while_serving)


def get_pruner(app: Quart) -> EventPruner:
    """The pruner of ``app``."""
    pruner: EventPruner = app.extensions[EXTENSION_KEY]
    return pruner
