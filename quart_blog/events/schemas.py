"""Response and query models of the security-log API (validation and the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from quart_blog.posts.schemas import PostsQuery


class EventsQuery(PostsQuery):
    """``limit`` 1-100 (default 20) and ``before``: the posts list's paging, reused as is."""


class EventOut(BaseModel):
    """One entry of your security log."""

    id: int
    type: str = Field(description="`login`, `login_failed`, `password_changed`, … (SPEC §14)")
    created_at: str = Field(description="ISO 8601, UTC")
    address: str | None = Field(description="the client's address; null outside a request")
    device: str = Field(description='the browser, as a person reads it: "Firefox 133 on Linux"')


class EventPage(BaseModel):
    """A page of your security log, newest first."""

    items: list[EventOut]
    next: int | None = Field(description="pass as ?before= for the next page; null at the end")
