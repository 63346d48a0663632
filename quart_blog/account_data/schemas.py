"""Request and response models of the export and deletion API (validation and OpenAPI)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from quart_blog import validation as rules
from quart_blog.events.schemas import EventOut
from quart_blog.posts.schemas import PostOut
from quart_blog.validation import StrictModel


class DeleteIn(StrictModel):
    current_password: str = Field(max_length=rules.PASSWORD_MAX)
    code: str | None = Field(
        default=None, max_length=64, description="required when TOTP is on: TOTP or recovery code"
    )


class PasskeyOut(BaseModel):
    id: int
    name: str
    created_at: str = Field(description="ISO 8601, UTC")
    last_used_at: str | None


class SecondFactorOut(BaseModel):
    totp: bool
    recovery_codes_left: int
    passkeys: list[PasskeyOut]


class ProfileOut(BaseModel):
    id: int
    username: str
    created_at: str = Field(description="ISO 8601, UTC")
    last_login_at: str | None
    email: str | None
    email_verified: bool
    email_verified_at: str | None
    second_factor: SecondFactorOut


class SessionOut(BaseModel):
    id: int
    created_at: str
    last_seen_at: str
    expires_at: str
    remember: bool
    user_agent: str
    device: str
    current: bool = Field(description="the session that asked for this export")


class TokenOut(BaseModel):
    id: int
    name: str
    scope: str
    created_at: str
    expires_at: str
    last_used_at: str | None


class ExportedEventOut(EventOut):
    user_agent: str


class ExportOut(BaseModel):
    """Everything the account holds, in one document (never a hash or a secret)."""

    profile: ProfileOut
    posts: list[PostOut] = Field(description="every post, oldest first")
    sessions: list[SessionOut]
    tokens: list[TokenOut] = Field(description="names, scopes and times: never the token")
    events: list[ExportedEventOut] = Field(description="the security log, oldest first")
