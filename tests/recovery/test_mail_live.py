"""SPEC §11 "no message lost, none sent twice", with real processes and a real SMTP server.

Each test runs ``quart-blog serve`` (see ``tests.live``), queues verification messages by
registering through the API, and reads what an aiosmtpd server received (``tests.smtp``):
exactly one message per address, every ``Message-ID`` once. "Done" is what an operator
sees: ``quart-blog mail list`` says nothing is queued, i.e. every row is marked sent, after
which a short watch checks that no late duplicate arrives.

Every wait is bounded and ends on an event (a message arriving, the CLI or the outbox
table showing a state), except that last watch, which checks for an absence.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from quart_blog.clock import utcnow
from quart_blog.mail.models import OutboxMessage
from quart_blog.mail.sender import POLL_INTERVAL_S
from tests.conftest import PG_URL, truncate_postgres
from tests.factories import PASSWORD
from tests.live import LiveServer, free_port, run_cli
from tests.smtp import SmtpSink

NOTHING_QUEUED = "nothing queued: every message was delivered"
RETRYING = re.compile(r"^#(\d+)\s.*\sretrying \((\d+) attempts", re.MULTILINE)
ROW = re.compile(r"^#(\d+)\s", re.MULTILINE)
# Longest wait for a delivery: the backoff these tests reach (8 s at most) plus slack for a
# loaded machine.
DELIVERY_TIMEOUT = 30.0
# How long `mail list` is polled for a state (each run starts a Python process).
LIST_TIMEOUT = 30.0
# After every row is marked sent: watch this long for a duplicate (two sender polls).
DUPLICATE_WATCH_S = 2 * POLL_INTERVAL_S
# Kill only while no row is due for at least this long, so no sender holds a lease then.
KILL_MARGIN_S = 0.5
KILL_WINDOW_TIMEOUT = 30.0


def addresses(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-user{number}@example.org" for number in range(count)]


async def register_all(base_urls: list[str], emails: list[str]) -> None:
    """Register one user per address, all at once, spread over ``base_urls``."""
    limits = httpx.Limits(max_connections=len(emails))
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def register(number: int, email: str) -> None:
            response = await client.post(
                f"{base_urls[number % len(base_urls)]}/api/v1/register",
                json={"username": email.split("@")[0], "password": PASSWORD, "email": email},
            )
            assert response.status_code == 201, response.text

        await asyncio.gather(*(register(number, email) for number, email in enumerate(emails)))


def register_many(servers: list[LiveServer], emails: list[str]) -> None:
    asyncio.run(register_all([server.base_url for server in servers], emails))


def mail_list(server: LiveServer) -> str:
    """``quart-blog mail list`` against the server's database, as an operator runs it."""
    result = run_cli(["mail", "list", "--limit", "1000"], server.env, server.tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_for_listing(
    server: LiveServer, done: Callable[[str], bool], what: str, timeout: float = LIST_TIMEOUT
) -> str:
    """Run ``mail list`` until its output satisfies ``done`` (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        listing = mail_list(server)
        if done(listing):
            return listing
        assert time.monotonic() < deadline, f"not {what} in {timeout} s:\n{listing}"


def retrying(count: int, attempts: int = 1) -> Callable[[str], bool]:
    """``mail list`` shows ``count`` rows, each retrying after ``attempts`` failures or more."""

    def done(listing: str) -> bool:
        rows = ROW.findall(listing)
        tried = [int(tries) for _id, tries in RETRYING.findall(listing)]
        return len(rows) == count and len(tried) == count and min(tried) >= attempts

    return done


def arrivals_within(sink: SmtpSink, count: int, window: float) -> int:
    """How many messages the sink holds after watching ``window`` s for more than ``count``."""
    deadline = time.monotonic() + window
    with sink.recorder.changed:
        while len(sink.recorder.messages) <= count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sink.recorder.changed.wait(left)
        return len(sink.recorder.messages)


def assert_delivered_once(sink: SmtpSink, server: LiveServer, emails: list[str]) -> None:
    """Every address got its message, and no message arrived twice."""
    sink.wait_for(len(emails), DELIVERY_TIMEOUT)
    # Every row marked sent: no sender claims any of them again.
    wait_for_listing(server, lambda listing: NOTHING_QUEUED in listing, "all delivered")
    # A sender that delivered a row another had already marked would deliver before it
    # marks: give any such straggler two polls to show up.
    assert arrivals_within(sink, len(emails), DUPLICATE_WATCH_S) == len(emails)
    messages = sink.messages
    assert sorted(str(message["To"]) for message in messages) == sorted(emails)
    message_ids = [str(message["Message-ID"]) for message in messages]
    assert len(set(message_ids)) == len(emails), message_ids
    assert all(message["Subject"].startswith("Confirm your e-mail") for message in messages)


class Row(NamedTuple):
    id: int
    attempts: int
    next_attempt_at: datetime
    claimed_until: datetime | None
    sent_at: datetime | None


def outbox(url: str) -> list[Row]:
    """The outbox table as it is now (read directly: the lease is not in ``mail list``)."""

    async def read() -> list[Row]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(
                    select(
                        OutboxMessage.id,
                        OutboxMessage.attempts,
                        OutboxMessage.next_attempt_at,
                        OutboxMessage.claimed_until,
                        OutboxMessage.sent_at,
                    ).order_by(OutboxMessage.id)
                )
                return [Row._make(row) for row in result.all()]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def kill_between_attempts(server: LiveServer, url: str, count: int) -> list[Row]:
    """SIGKILL every process of ``server`` while all ``count`` rows wait for their retry.

    Only then does no sender hold a lease: a row leased by a killed sender would (by
    design) wait for its lease to run out, 10 minutes, before another sender takes it.
    """
    deadline = time.monotonic() + KILL_WINDOW_TIMEOUT
    while True:
        rows = outbox(url)
        now = utcnow()
        if (
            len(rows) == count
            and all(row.attempts >= 1 and row.sent_at is None for row in rows)
            and all(row.claimed_until is None or row.claimed_until < now for row in rows)
            and min((row.next_attempt_at - now).total_seconds() for row in rows) > KILL_MARGIN_S
        ):
            break
        assert time.monotonic() < deadline, f"no quiet moment to kill in: {rows}"
        time.sleep(0.05)
    server.refresh()
    living = server.living()
    assert len(living) > server.workers  # the parent and every worker
    for pid in living:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.alive():
        assert time.monotonic() < deadline, f"still running after SIGKILL: {server.living()}"
        time.sleep(0.05)
    return rows


def directory(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The migrated, empty PostgreSQL test database; the test skips without one."""
    if PG_URL is None:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    url: str = request.getfixturevalue("postgres_migrated")
    truncate_postgres(url)
    yield url
    truncate_postgres(url)


def test_two_workers_on_sqlite_deliver_each_message_once(tmp_path: Path) -> None:
    emails = addresses("w", 40)
    with SmtpSink() as sink, LiveServer(tmp_path, workers=2, MAIL_URL=sink.url) as server:
        register_many([server], emails)
        assert_delivered_once(sink, server, emails)
        assert "Traceback" not in server.stderr, server.stderr[-4000:]


def test_two_instances_on_postgresql_deliver_once_when_smtp_comes_back(
    tmp_path: Path, pg_url: str
) -> None:
    emails = addresses("pg", 30)
    sink = SmtpSink(free_port())  # reserved; nothing listens on it yet
    with (
        LiveServer(directory(tmp_path, "a"), DATABASE_URL=pg_url, MAIL_URL=sink.url) as first,
        LiveServer(directory(tmp_path, "b"), DATABASE_URL=pg_url, MAIL_URL=sink.url) as second,
    ):
        assert sink.port not in (first.port, second.port)
        register_many([first, second], emails)
        wait_for_listing(first, retrying(len(emails)), "all retrying")
        with sink:
            assert_delivered_once(sink, second, emails)
        logs = first.stderr + second.stderr
        assert "not delivered (attempt 1" in logs
        assert "Traceback" not in logs, logs[-4000:]


def test_smtp_down_then_up_with_a_live_server(tmp_path: Path) -> None:
    # SQLite (the server's own file); on PostgreSQL the two-instance test covers this.
    emails = addresses("down", 5)
    sink = SmtpSink(free_port())
    with LiveServer(tmp_path, workers=2, MAIL_URL=sink.url) as server:
        assert sink.port != server.port
        register_many([server], emails)
        # Retried, not just tried: every row has failed twice, on the backoff schedule.
        wait_for_listing(server, retrying(len(emails), attempts=2), "all retried")
        assert sink.messages == []
        with sink:
            assert_delivered_once(sink, server, emails)
        assert "not delivered (attempt 2" in server.stderr
        assert "Traceback" not in server.stderr, server.stderr[-4000:]


def test_kill_9_with_messages_queued_then_restart_delivers_once(
    tmp_path: Path, database_url: str
) -> None:
    emails = addresses("killed", 12)  # more than one batch
    sink = SmtpSink(free_port())
    with LiveServer(
        directory(tmp_path, "first"), workers=2, DATABASE_URL=database_url, MAIL_URL=sink.url
    ) as first:
        assert sink.port != first.port
        register_many([first], emails)
        wait_for_listing(first, retrying(len(emails)), "all retrying")
        kill_between_attempts(first, database_url, len(emails))
    # The rows outlived the processes: still queued, none marked sent, none leased.
    rows = outbox(database_url)
    assert len(rows) == len(emails)
    assert all(row.sent_at is None and row.claimed_until is None for row in rows), rows
    with (
        sink,
        LiveServer(
            directory(tmp_path, "again"), workers=2, DATABASE_URL=database_url, MAIL_URL=sink.url
        ) as again,
    ):
        assert_delivered_once(sink, again, emails)
        assert "Traceback" not in again.stderr, again.stderr[-4000:]
