"""Input rules of SPEC §7, shared by the HTML forms and the JSON API."""

from __future__ import annotations

import gzip
import re
from importlib import resources
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

USERNAME_MIN, USERNAME_MAX = 3, 32
USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]{3,32}$"
PASSWORD_MIN, PASSWORD_MAX = 8, 1024
TITLE_MAX = 200
BODY_MAX = 20_000
MAX_ID = 2**63 - 1
EMAIL_MAX = 254

TOO_COMMON = (
    "That password is one of the most common passwords, which attackers try first. Choose another."
)
# See quart_blog/data/README.md for where the list comes from and its licence.
COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"

_USERNAME_RE = re.compile(USERNAME_PATTERN)
_SURROGATES = re.compile("[\ud800-\udfff]")


def load_common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower-cased), read from the installed package."""
    packed = resources.files("quart_blog").joinpath("data").joinpath(COMMON_PASSWORDS_FILE)
    lines = gzip.decompress(packed.read_bytes()).decode("utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip())


# Read once at import (a few milliseconds), so no request ever touches the file.
COMMON_PASSWORDS = load_common_passwords()


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


def is_common_password(password: str) -> bool:
    """Whether ``password`` is on the common list, ignoring case and surrounding spaces."""
    return password.strip().lower() in COMMON_PASSWORDS


def password_problem(password: str, field: str = "Password") -> str | None:
    """Why a new ``password`` is not acceptable, or ``None``.

    Any Unicode, spaces allowed; nothing about its composition is required, but a
    password from the common list is refused (SPEC §13).
    """
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return f"{field} must be {PASSWORD_MIN}-{PASSWORD_MAX} characters long."
    problem = text_problem(field, password)
    if problem is None and is_common_password(password):
        return TOO_COMMON
    return problem


def refuse_common_password(password: str) -> str:
    """Pydantic check of a new password: the same refusal as ``password_problem`` gives."""
    if is_common_password(password):
        # A custom error type keeps the message as written (no "Value error, " prefix).
        raise PydanticCustomError("common_password", TOO_COMMON)
    return password


# A new password in an API body (register, change, reset): its length, then the list.
NewPassword = Annotated[
    str,
    Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX),
    AfterValidator(refuse_common_password),
]


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
