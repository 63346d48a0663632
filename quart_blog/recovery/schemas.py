"""Request and response models of the recovery API (validation and the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from quart_blog import validation as rules
from quart_blog.validation import StrictModel


class EmailChangeIn(StrictModel):
    email: str = Field(max_length=rules.EMAIL_MAX * 2)  # checked by clean_email
    current_password: str = Field(max_length=rules.PASSWORD_MAX)


class TokenIn(StrictModel):
    token: str = Field(max_length=200)


class ForgotIn(StrictModel):
    email: str = Field(max_length=rules.EMAIL_MAX * 2)


class ResetIn(StrictModel):
    token: str = Field(max_length=200)
    new_password: rules.NewPassword


class MessageOut(BaseModel):
    """Accepted: what happens next, in a sentence."""

    message: str
