"""SQLite writers of every process take turns on one ``flock`` beside the database file.

Standard library only (and ``quart_blog.db.changes``); used by the one-hop driver in
``quart_blog.db.connections``.
"""

from __future__ import annotations

import fcntl
import os
import threading
from typing import ClassVar

from quart_blog.db.changes import ChangeCounter, changes_watched

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")
WRITE_HEAD = max(len(word) for word in WRITES)


class WriterQueue:
    """Writers of every process and connection take turns on one ``flock``, not in busy_timeout.

    When SQLite's write lock is taken, its busy handler sleeps 1, 2, 5 ... 100 ms
    between retries, so writers of two workers colliding at a few hundred writes
    a second waited in sleeps (write p99 about 1 s at 64 connections). A blocking
    ``flock`` on ``<database>-writer`` wakes the next writer as soon as the lock
    is free. It is taken on the connection's own worker thread (never on the event
    loop), just before a write starts and released when it ends: after the
    statement for a single autocommitted write, at COMMIT or ROLLBACK for a
    ``BEGIN IMMEDIATE`` transaction. Correctness never depends on it: a writer
    that does not take it (a migration, the CLI) still meets SQLite's own lock.

    It also tells ``changes`` (``quart_blog.db.changes``) when a write to the tables
    a session check reads has ended: ``note`` each statement, and ``release`` bumps
    the counter once the statement or the transaction holding it is over.
    """

    # One turn-taker per process and database: flock wakes every waiter at each unlock,
    # so the pooled connections of a process queue on a thread lock first, and at most
    # one thread per process waits on the flock.
    _in_process: ClassVar[dict[str, threading.Lock]] = {}

    def __init__(self, database: str) -> None:
        self.fd = os.open(f"{database}-writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.turn = self._in_process.setdefault(os.path.realpath(database), threading.Lock())
        self.held = False
        self.changes = ChangeCounter.for_file(database)
        self.changed = False  # a statement since the last release wrote users or auth_sessions

    def note(self, sql: str) -> None:
        """Remember that the transaction under way writes a table session checks read."""
        if not self.changed and changes_watched(sql):
            self.changed = True

    def acquire(self) -> None:
        self.turn.acquire()
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.turn.release()
            raise
        self.held = True

    def release(self) -> None:
        """End a write: count it if it touched a watched table, then let the next writer in.

        Called whenever SQLite is outside a transaction again (after a COMMIT, a ROLLBACK
        or an autocommitted statement): a rolled-back or failed write is counted too,
        which costs the next request one lookup and is never wrong.
        """
        if self.changed:
            self.changed = False
            self.changes.bump()
        if self.held:
            self.held = False
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                self.turn.release()

    def close(self) -> None:
        self.release()
        os.close(self.fd)


def starts_write(sql: str) -> bool:
    """Whether the statement takes SQLite's write lock (only its first words are looked at)."""
    return sql.lstrip()[:WRITE_HEAD].upper().startswith(WRITES)
