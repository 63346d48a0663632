"""Outgoing mail (SPEC §11): queue in the outbox, deliver in the background.

Features call ``queue_message`` inside the write unit of the change that causes the
message; nothing is sent inline. Inside: ``messages`` (what each message says),
``outbox`` (its SQL), ``sender`` (the background delivery loop), ``transport``
(SMTP or ``.eml`` files), ``admin`` (``quart-blog mail``).
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Quart, Response, current_app, g
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.config import get_settings
from quart_blog.mail import outbox
from quart_blog.mail.messages import Draft, compose, public_link, when
from quart_blog.mail.outbox import Claimed
from quart_blog.mail.sender import ClaimHook, MailSender
from quart_blog.mail.transport import make_transport

EXTENSION_KEY = "quart_blog.mail"


def init_app(app: Quart, *, send: bool) -> None:
    """Give ``app`` its sender; with ``send`` it runs while the app serves.

    Without ``send`` (tests that read the outbox, one-off commands) messages are
    queued all the same and wait for a process that sends.
    """
    logger = logging.getLogger(f"{app.logger.name}.mail")
    logger.setLevel(logging.INFO)  # "wrote instance/mail/...": shown, as a person needs it
    settings = get_settings(app)
    transport = make_transport(settings.mail_server, settings.mail_dir, logger)
    sender = app.extensions[EXTENSION_KEY] = MailSender(app, transport, logger)
    if send:
        # While serving: started after every before_serving hook (the database is open)
        # and stopped before any after_serving hook (it is still open).
        app.while_serving(sender.while_serving)
        app.after_request(wake_sender)


def get_sender(app: Quart | None = None) -> MailSender:
    """The mail sender of ``app`` (default: the running app)."""
    sender: MailSender = (app or current_app).extensions[EXTENSION_KEY]
    return sender


def on_claim(app: Quart, kind: str, hook: ClaimHook) -> None:
    """Have ``hook`` compose the message for rows of ``kind`` queued by ``queue_request``."""
    get_sender(app).claim_hooks[kind] = hook


async def wake_sender(response: Response) -> Response:
    """After a request that queued a message, deliver it now rather than at the next poll."""
    if g.get(outbox.QUEUED_FLAG):
        get_sender().wake()
    return response


async def queue_message(
    session: AsyncSession, kind: str, recipient: str, *, username: str, **context: Any
) -> None:
    """Compose message ``kind`` and queue it in the caller's transaction."""
    await outbox.queue(session, await compose(kind, recipient, username=username, **context))


async def queue_request(session: AsyncSession, kind: str, recipient: str) -> None:
    """Queue a request for the sender to turn into a message (see ``on_claim``).

    Every such request costs the same in the request, whatever the sender later
    finds (a forgot-password request for an unknown address, say).
    """
    outbox.queue_row(session, kind=kind, recipient=recipient, draft=None)
    await session.flush()


__all__ = [
    "Claimed",
    "Draft",
    "compose",
    "get_sender",
    "init_app",
    "on_claim",
    "public_link",
    "queue_message",
    "queue_request",
    "when",
]
