"""Driving recovery through the public surface: deliver the outbox, read what arrived."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import select

from quart_blog.db.database import new_session
from quart_blog.mail import get_sender
from quart_blog.mail.models import OutboxMessage
from tests.factories import PASSWORD, api_register
from tests.smtp import SmtpSink, link_in


async def deliver(app: Quart) -> None:
    """Run the app's mail sender until the outbox has nothing due (as serving would)."""
    async with app.app_context():
        while await get_sender(app).deliver_due():
            pass


async def outbox_rows(app: Quart) -> list[OutboxMessage]:
    async with app.app_context():
        session = new_session()
        try:
            result = await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))
            return list(result.scalars().all())
        finally:
            await session.close()


async def delivered(app: Quart, smtp: SmtpSink, count: int) -> list[EmailMessage]:
    """Deliver the outbox and return the messages, asserting exactly ``count`` arrived."""
    await deliver(app)
    messages = smtp.messages
    assert len(messages) == count, [m["Subject"] for m in messages]
    return messages


def token_of(message: EmailMessage) -> str:
    return link_in(message).rsplit("token=", 1)[1]


async def register_with_email(
    client: QuartClient, username: str = "alice", email: str = "alice@example.org"
) -> dict[str, Any]:
    return await api_register(client, username, PASSWORD, email)


async def me(client: QuartClient) -> dict[str, Any]:
    response = await client.get("/api/v1/me")
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body
