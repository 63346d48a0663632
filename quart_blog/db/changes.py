"""A counter of the writes a login depends on, shared by every process using one SQLite file.

``quart_blog.accounts.sessions`` keeps each worker's recent session lookups between
requests on SQLite, and must never let one through after it was revoked, on any worker or
instance. Every write to ``users`` or ``auth_sessions`` (log out, revoke, change or reset a
password, delete an account, a fresh recent-authentication time; all but the refresh of
``last_seen_at``) bumps this counter once it has ended, and a kept lookup is used only
while the counter still holds the value it had before that lookup was made.

The counter is 8 bytes of a file beside the database (``<database>-changes``), mapped into
memory by every process: reading it is a memory read, with no system call and no thread
hand-off (a session lookup costs one of each, the larger part of a read request's CPU on
SQLite). SQLite's WAL mode already requires every process of a database to be on one
host, so a counter in shared memory reaches all of them. The driver bumps it on the
worker thread that ran the write, after the statement or the COMMIT that ended it and
before the request that wrote can be answered, and while the writer lock is normally
still held (``quart_blog.db.writers``), so bumps of different processes seldom race; two
that do may count as one, and the value changes all the same.

A write made outside this app's driver (the ``sqlite3`` shell, say) does not bump it:
revoke sessions through the app (logout everywhere, a password reset), or restart the
servers after editing the file by hand.
"""

from __future__ import annotations

import mmap
import os
import re
from typing import ClassVar

from sqlalchemy.engine import make_url

# An INSERT, UPDATE, DELETE or REPLACE naming one of the tables a session check reads.
WATCHED_WRITE = re.compile(
    r"\s*(?:INSERT|UPDATE|DELETE|REPLACE)\b.*\b(?:users|auth_sessions)\b",
    re.IGNORECASE | re.DOTALL,
)
# Except the once-a-minute refresh of a session's last_seen_at
# (``accounts.queries.update_last_seen``): it decides no session's validity, and counting
# it dropped every kept lookup of every worker each time one of the active sessions was
# refreshed. Should SQLAlchemy ever compile it differently, it simply counts again.
LAST_SEEN_REFRESH = re.compile(
    r"\s*UPDATE auth_sessions SET last_seen_at=\? WHERE auth_sessions\.id = \?\s*\Z"
)
COUNTER_BYTES = 8
COUNTER_MASK = (1 << 64) - 1


def changes_watched(sql: str) -> bool:
    """Whether ``sql`` writes what a session check reads (a false positive costs a lookup)."""
    return WATCHED_WRITE.match(sql) is not None and LAST_SEEN_REFRESH.match(sql) is None


class ChangeCounter:
    """The mapped counter of one database file; one object per file and process."""

    _by_file: ClassVar[dict[str, ChangeCounter]] = {}

    def __init__(self, database: str) -> None:
        fd = os.open(f"{database}-changes", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_size < COUNTER_BYTES:
                os.ftruncate(fd, COUNTER_BYTES)  # a new file reads as zeros
            self._map = mmap.mmap(fd, COUNTER_BYTES)
        finally:
            os.close(fd)  # the mapping stays valid without the descriptor
        self._cell = memoryview(self._map).cast("Q")

    @classmethod
    def for_file(cls, database: str) -> ChangeCounter:
        """The counter of a SQLite database file (the same object for every connection)."""
        key = os.path.realpath(database)
        counter = cls._by_file.get(key)
        if counter is None:
            counter = cls._by_file[key] = cls(database)
        return counter

    @classmethod
    def registered(cls, url: str) -> ChangeCounter | None:
        """The counter this process's driver bumps for ``url``'s file, if it has opened one.

        ``None`` for PostgreSQL, in-memory and URI databases, and for a file no connection
        has opened yet: whatever the driver does not bump is never trusted. Nothing is
        kept between requests without a counter (PostgreSQL looks every session up).
        """
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database:
            return None
        return cls._by_file.get(os.path.realpath(parsed.database))

    @property
    def value(self) -> int:
        """The current count (an aligned 8-byte read: never torn)."""
        return self._cell[0]

    def bump(self) -> None:
        """Count one ended write. Two bumps racing may count as one; the value changes anyway."""
        self._cell[0] = (self._cell[0] + 1) & COUNTER_MASK
