"""How a message leaves: to the SMTP server of ``MAIL_URL``, or as an ``.eml`` file.

A transport opens one connection for a batch of messages (``connection()``) and
delivers each through it. Errors say whether trying again later can help.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from quart_blog.config import MailServer

SMTP_TIMEOUT_S = 20.0

Deliver = Callable[[EmailMessage, str], Awaitable[None]]  # (message, file-name stem)


class Refused(Exception):
    """The mail server refused this message for good (a 5xx answer to it)."""


class Transport(Protocol):
    def connection(self) -> AbstractAsyncContextManager[Deliver]: ...


class SmtpTransport:
    """Deliver through an SMTP server (plain, STARTTLS, or TLS from the start)."""

    def __init__(self, server: MailServer) -> None:
        self.server = server

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Deliver]:
        server = self.server
        smtp = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.security == "tls",
            start_tls=server.security == "starttls",
            timeout=SMTP_TIMEOUT_S,
        )
        await smtp.connect()
        try:
            yield lambda message, _stem: self._send(smtp, message)
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()
                except BaseException:
                    # Cancelled mid-QUIT (the sender stopping at shutdown): still let go of
                    # the socket, or it lingers until garbage collection.
                    smtp.close()
                    raise

    @staticmethod
    async def _send(smtp: aiosmtplib.SMTP, message: EmailMessage) -> None:
        try:
            await smtp.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise Refused(str(error)) from error
        except aiosmtplib.SMTPDataError as error:
            if error.code >= 500:
                raise Refused(str(error)) from error
            raise


class FileTransport:
    """Write each message as ``DIR/STEM.eml`` (no ``MAIL_URL``: trying the site locally).

    The file is written under a temporary name and renamed, so a reader never sees
    half a message, and a second delivery of the same row replaces the first.
    """

    def __init__(self, directory: Path, logger: logging.Logger) -> None:
        self.directory = directory
        self.logger = logger

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Deliver]:
        yield self._write

    async def _write(self, message: EmailMessage, stem: str) -> None:
        path = await asyncio.to_thread(write_atomically, self.directory, f"{stem}.eml", message)
        self.logger.info("mail: wrote %s (to %s: %s)", path, message["To"], message["Subject"])


def write_atomically(directory: Path, name: str, message: EmailMessage) -> Path:
    """Write ``message`` to ``directory/name`` in one rename (run in a thread)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(message.as_bytes())
    path = directory / name
    os.replace(temporary, path)
    return path


def make_transport(server: MailServer | None, directory: Path, logger: logging.Logger) -> Transport:
    """The SMTP transport for ``MAIL_URL``, else ``.eml`` files under ``directory``."""
    return SmtpTransport(server) if server else FileTransport(directory, logger)
