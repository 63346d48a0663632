"""A real SMTP server for tests: aiosmtpd on a free loopback port, recording what it accepts.

It runs in aiosmtpd's own thread (``Controller``); ``stop`` joins that thread, so no test
leaves it behind. It can be started late on a port chosen early, to play a mail server
that is down and comes back.
"""

from __future__ import annotations

import re
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.live import HOST, free_port

STARTUP_TIMEOUT_S = 30.0
LINK_RE = re.compile(r"(https?://\S+?\?token=[A-Za-z0-9_-]+)")


class Recorder:
    """aiosmtpd handler: keeps every accepted message, in order."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.changed = threading.Condition()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        """Refuse addresses that start with "refused" (a mailbox that does not exist)."""
        if address.startswith("refused"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.changed:
            self.messages.append(message)
            self.changed.notify_all()
        return "250 OK"


class SmtpSink:
    """An SMTP server the app delivers to; ``url`` is its ``MAIL_URL``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.recorder = Recorder()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        with self.recorder.changed:
            return list(self.recorder.messages)

    def start(self) -> SmtpSink:
        # A generous start-up bound: on two busy cores the server thread can be slow to come up.
        self._controller = Controller(
            self.recorder, hostname=HOST, port=self.port, ready_timeout=STARTUP_TIMEOUT_S
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        """Block until ``count`` messages arrived (or fail after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self.recorder.changed:
            while len(self.recorder.messages) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.recorder.messages)} of {count} messages arrived"
                self.recorder.changed.wait(left)
            return list(self.recorder.messages)

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def text_part(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def html_part(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    content: str = part.get_content()
    return content


def link_in(message: EmailMessage) -> str:
    """The one token link in a message's plain-text part."""
    links = set(LINK_RE.findall(text_part(message)))
    assert len(links) == 1, links
    return links.pop()
