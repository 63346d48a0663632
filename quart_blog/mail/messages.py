"""What each message says: subject, plain-text and HTML parts, from ``templates/mail/``.

Every message names the site, says why the reader got it and what to do if it was not
them. Links are ``PUBLIC_URL`` + path: a request's ``Host`` never reaches a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from quart import current_app

from quart_blog.config import get_settings

SITE_NAME = "quart-blog"
SUBJECTS = {
    "verify-email": f"Confirm your e-mail address for {SITE_NAME}",
    "password-reset": f"Reset your {SITE_NAME} password",
    "password-changed": f"Your {SITE_NAME} password was changed",
    "password-reset-done": f"Your {SITE_NAME} password was reset",
    "email-changed": f"Your {SITE_NAME} e-mail address is being changed",
    "email-verified": f"Your {SITE_NAME} e-mail address is confirmed",
    "account-deleted": f"Your {SITE_NAME} account was deleted",
    "passkey-removed": f"The last passkey of your {SITE_NAME} account was removed",
    "mfa-enabled": f"Two-step login is on for your {SITE_NAME} account",
    "mfa-disabled": f"Two-step login was turned off for your {SITE_NAME} account",
    "mfa-recovery-codes": f"New recovery codes for your {SITE_NAME} account",
    "mfa-reset": f"The second factors of your {SITE_NAME} account were reset",
}


@dataclass(frozen=True)
class Draft:
    """A message ready to queue."""

    kind: str
    recipient: str
    subject: str
    text: str
    html: str


def public_link(path: str, **query: str) -> str:
    """``PUBLIC_URL`` + ``path`` (+ ``?query``)."""
    suffix = f"?{urlencode(query)}" if query else ""
    return f"{get_settings().public_url}{path}{suffix}"


def when(moment: datetime) -> str:
    """A moment as people read it in a message."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


async def compose(kind: str, recipient: str, *, username: str, **context: Any) -> Draft:
    """Render message ``kind`` for ``recipient`` (needs an app context; autoescaped HTML)."""
    subject = SUBJECTS[kind]
    values = {
        "site_name": SITE_NAME,
        "public_url": get_settings().public_url,
        "subject": subject,
        "username": username,
        **context,
    }
    # Straight from the Jinja environment: the pages' context processors (the user, the
    # CSRF token, flashes) belong to a page, and the sender renders outside any request.
    environment = current_app.jinja_env
    text = await environment.get_template(f"mail/{kind}.txt").render_async(values)
    html = await environment.get_template(f"mail/{kind}.html").render_async(values)
    return Draft(kind, recipient, subject, text.strip() + "\n", html)


def build_email(
    *,
    message_id: int,
    created_at: datetime,
    recipient: str,
    subject: str,
    text: str,
    html: str,
) -> EmailMessage:
    """The MIME message for one outbox row.

    Its ``Message-ID`` comes from the row, so the rare repeat (a crash between the mail
    server's acceptance and the row's update) carries the same id and can be recognised.
    """
    settings = get_settings()
    host = urlsplit(settings.public_url).hostname or "localhost"
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = recipient
    email["Subject"] = subject
    email["Date"] = format_datetime(created_at)
    email["Message-ID"] = f"<outbox-{message_id}.{int(created_at.timestamp())}@{host}>"
    email["Auto-Submitted"] = "auto-generated"
    # Plain ASCII text goes as it is, so a link reads whole in the raw message (an .eml
    # file, a mail server's log); anything else is quoted-printable.
    email.set_content(text, cte="7bit" if text.isascii() else "quoted-printable")
    email.add_alternative(html, subtype="html")
    return email
