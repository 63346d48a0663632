"""Request and response models of the accounts API (validation and the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from quart_blog import validation as rules
from quart_blog.validation import StrictModel


class RegisterIn(StrictModel):
    username: str = Field(
        min_length=rules.USERNAME_MIN,
        max_length=rules.USERNAME_MAX,
        pattern=rules.USERNAME_PATTERN,
    )
    password: rules.NewPassword
    email: str | None = Field(default=None, max_length=rules.EMAIL_MAX * 2)  # see clean_email


class LoginIn(StrictModel):
    username: str = Field(max_length=rules.USERNAME_MAX * 4)
    password: str = Field(max_length=rules.PASSWORD_MAX)
    remember: bool = False


class PasswordIn(StrictModel):
    current_password: str = Field(max_length=rules.PASSWORD_MAX)
    new_password: rules.NewPassword


class ReauthIn(StrictModel):
    """Either the password or a code (TOTP or recovery) of the logged-in user."""

    password: str | None = Field(default=None, max_length=rules.PASSWORD_MAX)
    code: str | None = Field(default=None, max_length=64)


class UserOut(BaseModel):
    """The account."""

    id: int
    username: str


class MeOut(BaseModel):
    """The logged-in account, with the e-mail address it has now (verified or not)."""

    id: int
    username: str
    email: str | None
    email_verified: bool
