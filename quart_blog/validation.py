"""Input rules of SPEC §7, shared by the HTML forms and the JSON API."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict

USERNAME_MIN, USERNAME_MAX = 3, 32
USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]{3,32}$"
PASSWORD_MIN, PASSWORD_MAX = 8, 1024
TITLE_MAX = 200
BODY_MAX = 20_000
MAX_ID = 2**63 - 1
EMAIL_MAX = 254

_USERNAME_RE = re.compile(USERNAME_PATTERN)
_SURROGATES = re.compile("[\ud800-\udfff]")


def text_problem(field: str, value: str) -> str | None:
    """Refuse characters no database column can store faithfully."""
    if "\x00" in value:
        return f"{field} must not contain NUL characters."
    if _SURROGATES.search(value):
        return f"{field} must be valid Unicode (no lone surrogates)."
    return None


def username_problem(username: str) -> str | None:
    """Why ``username`` is not acceptable, or ``None``."""
    if not _USERNAME_RE.fullmatch(username):
        return (
            f"Username must be {USERNAME_MIN}-{USERNAME_MAX} characters of letters, digits, "
            "'_', '.' or '-'."
        )
    return None


def password_problem(password: str, field: str = "Password") -> str | None:
    """Why ``password`` is not acceptable, or ``None`` (any Unicode, spaces allowed)."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return f"{field} must be {PASSWORD_MIN}-{PASSWORD_MAX} characters long."
    return text_problem(field, password)


def clean_email(email: str) -> tuple[str, str | None]:
    """The address in normal form (domain lower-cased) and why it is not acceptable, or ``None``.

    Only its form is checked here (no DNS lookup in a request); the verification link
    proves the address works.
    """
    trimmed = email.strip()
    problem = text_problem("E-mail address", trimmed)
    if problem is not None or len(trimmed) > EMAIL_MAX:
        return trimmed, problem or f"E-mail address must be at most {EMAIL_MAX} characters."
    try:
        checked = validate_email(trimmed, check_deliverability=False)
    except EmailNotValidError as error:
        return trimmed, f"That is not a valid e-mail address: {error}"
    return checked.normalized, None


def clean_title(title: str) -> tuple[str, str | None]:
    """The trimmed title and why it is not acceptable, or ``None``."""
    trimmed = title.strip()
    if not 1 <= len(trimmed) <= TITLE_MAX:
        return trimmed, f"Title must be 1-{TITLE_MAX} characters (after trimming spaces)."
    return trimmed, text_problem("Title", trimmed)


def body_problem(body: str) -> str | None:
    """Why ``body`` is not acceptable, or ``None``."""
    if not body.strip() or len(body) > BODY_MAX:
        return f"Body must be 1-{BODY_MAX} characters and not only spaces."
    return text_problem("Body", body)


class StrictModel(BaseModel):
    """No type coercion: ``"1"`` is not a number and ``1`` is not a string."""

    model_config = ConfigDict(strict=True)
