"""Request and response models of the posts API (validation and the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator, model_validator

from quart_blog import validation as rules
from quart_blog.validation import StrictModel


class PostRules(StrictModel):
    """Title trimmed before its length is checked; a body must not be only spaces."""

    @field_validator("title", mode="before", check_fields=False)
    @classmethod
    def trim_title(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("body", check_fields=False)
    @classmethod
    def body_not_blank(cls, value: str | None) -> str | None:
        problem = None if value is None else rules.body_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class PostIn(PostRules):
    title: str = Field(min_length=1, max_length=rules.TITLE_MAX)
    body: str = Field(min_length=1, max_length=rules.BODY_MAX)


class PostPatch(PostRules):
    title: str | None = Field(default=None, min_length=1, max_length=rules.TITLE_MAX)
    body: str | None = Field(default=None, min_length=1, max_length=rules.BODY_MAX)

    @model_validator(mode="after")
    def something_to_change(self) -> PostPatch:
        if self.title is None and self.body is None:
            raise ValueError("give a new title and/or body")
        return self


class PostsQuery(BaseModel):
    # Query strings are text, so this model converts "20" to 20 (not strict).
    limit: int = Field(default=20, ge=1, le=100)
    before: int | None = Field(default=None, ge=1, le=rules.MAX_ID)


class PostOut(BaseModel):
    """One of your posts."""

    id: int
    title: str
    body: str
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC")


class PostPage(BaseModel):
    """A page of your posts, newest first."""

    items: list[PostOut]
    next: int | None = Field(description="pass as ?before= for the next page; null at the end")
