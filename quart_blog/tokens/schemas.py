"""Request and response models of the tokens API (validation and the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from quart_blog.tokens import service
from quart_blog.validation import StrictModel


class TokenIn(StrictModel):
    name: str = Field(
        min_length=1, max_length=service.NAME_MAX, description="What the token is for."
    )
    scope: Literal["read", "write"] = Field(
        description="`read`: GET only; `write`: also create, edit and delete posts."
    )
    expires_in_days: int = Field(ge=service.DAYS_MIN, le=service.DAYS_MAX)

    @field_validator("name", mode="before")
    @classmethod
    def trim_name(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def storable_name(cls, value: str) -> str:
        _name, problem = service.clean_name(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class TokenOut(BaseModel):
    """One of your API tokens (never its secret)."""

    id: int
    name: str
    scope: Literal["read", "write"]
    created_at: str = Field(description="ISO 8601, UTC")
    expires_at: str = Field(description="ISO 8601, UTC")
    last_used_at: str | None = Field(
        description="ISO 8601, UTC; kept to the minute; null if never used"
    )


class NewTokenOut(TokenOut):
    """The token just made, with its secret: shown this once, never again."""

    token: str = Field(description="Send it as `Authorization: Bearer TOKEN`.")


class TokenList(BaseModel):
    """Your live API tokens, newest first."""

    items: list[TokenOut]
