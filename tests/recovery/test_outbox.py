"""SPEC §11: no message lost, none sent twice; retries while the mail server is down."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock, create_app
from quart_blog.clock import ManualClock
from quart_blog.mail import get_sender
from quart_blog.mail.sender import FIRST_RETRY, KEEP_SENT, retry_delay
from tests.factories import api_user
from tests.recovery.helpers import deliver, outbox_rows, register_with_email
from tests.smtp import SmtpSink, free_port, link_in


def test_retry_delay_grows_and_is_capped() -> None:
    delays = [retry_delay(n) for n in range(1, 30)]
    assert delays[0] == FIRST_RETRY
    assert delays == sorted(delays)
    assert delays[-1] == timedelta(minutes=15)


@pytest.fixture
def down_port() -> int:
    """A port with no mail server on it (yet)."""
    return free_port()


@pytest.fixture
def app_overrides(app_overrides: dict[str, str], down_port: int) -> dict[str, str]:
    return {**app_overrides, "MAIL_URL": f"smtp://127.0.0.1:{down_port}"}


async def test_smtp_down_then_up_delivers_once(
    app: Quart, client: QuartClient, down_port: int
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await register_with_email(client)
        await deliver(app)  # the server is down: the row stays, its retry scheduled
        await deliver(app)  # not due yet: nothing is tried
        [row] = await outbox_rows(app)
        assert (row.attempts, row.sent_at, row.claimed_until) == (1, None, None)
        assert row.last_error
        assert row.next_attempt_at == manual.now + FIRST_RETRY
        with SmtpSink(down_port) as smtp:
            manual.advance(FIRST_RETRY.total_seconds())
            await deliver(app)
            await deliver(app)
            assert len(smtp.messages) == 1
            assert link_in(smtp.messages[0])
        [row] = await outbox_rows(app)
        assert row.sent_at is not None
        assert (row.text_body, row.html_body) == ("", "")  # the token is gone from the table


async def test_refused_message_is_kept_for_the_operator(
    app: Quart, client: QuartClient, down_port: int
) -> None:
    with SmtpSink(down_port) as smtp:
        await register_with_email(client, email="refused@example.org")
        await register_with_email(client, "bob", "bob@example.org")
        await deliver(app)
        assert [m["To"] for m in smtp.messages] == ["bob@example.org"]
    refused, sent = await outbox_rows(app)
    assert refused.failed_at is not None and refused.sent_at is None
    assert "550" in (refused.last_error or "")
    assert sent.sent_at is not None


class TestBackgroundSender:
    """The sender that runs while the app serves, woken by the request that queued."""

    @pytest.fixture
    def send_mail(self) -> bool:
        return True

    async def test_delivers_without_being_asked(
        self, app: Quart, client: QuartClient, down_port: int
    ) -> None:
        with SmtpSink(down_port) as smtp:
            await register_with_email(client)
            [message] = await asyncio.to_thread(smtp.wait_for, 1)
            assert message["To"] == "alice@example.org"
            assert message["Message-ID"].startswith("<outbox-1.")


async def test_without_mail_url_messages_are_files_and_the_log_says_where(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    from tests.factories import SECRET_KEY

    app = create_app(
        {"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "BCRYPT_ROUNDS": "4"},
        testing=True,
        send_mail=False,
    )
    async with app.test_app():
        await register_with_email(app.test_client())
        with caplog.at_level(logging.INFO):
            await deliver(app)
    [path] = (tmp_path / "instance" / "mail").glob("*.eml")
    assert "verify-email" in path.name
    # The link reads whole in the raw file (no quoted-printable breaks), to click or grep.
    assert re.search(
        r"^http://localhost:8000/verify-email\?token=[\w-]{43}$", path.read_text(), re.M
    )
    assert str(Path("instance") / "mail" / path.name) in caplog.text


async def test_a_user_without_address_gets_no_notice(app: Quart, client: QuartClient) -> None:
    await api_user(client)
    await client.post(
        "/api/v1/password",
        json={"current_password": "correct horse battery", "new_password": "another long one"},
    )
    assert await outbox_rows(app) == []


async def test_delivered_rows_are_forgotten_after_30_days_undelivered_never(
    app: Quart, client: QuartClient, down_port: int
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        with SmtpSink(down_port):
            await register_with_email(client)
            await deliver(app)
        await register_with_email(client, "bob", "bob@example.org")
        await deliver(app)  # the server is gone again: bob's message waits
        sender = get_sender(app)
        async with app.app_context():
            await sender.prune()
            assert len(await outbox_rows(app)) == 2
            manual.advance((KEEP_SENT + timedelta(hours=1)).total_seconds())
            await sender.prune()
        [waiting] = await outbox_rows(app)
        assert (waiting.recipient, waiting.sent_at) == ("bob@example.org", None)
