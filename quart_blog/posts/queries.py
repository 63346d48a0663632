"""Queries on ``posts``; every one filters by the owner's id in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.db import Prepared
from quart_blog.posts.models import Post


class PostRow(Protocol):
    """What a listed post offers: the columns, by attribute (an ORM ``Post`` fits too)."""

    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


class ListedPost(NamedTuple):
    """A row of the posts list."""

    id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


# The list is the hottest query: built and compiled once, with and without a
# ``before`` bound, returning plain tuples instead of ORM objects (docs/PERFORMANCE.md).
_PAGE = (
    select(Post.id, Post.title, Post.body, Post.created_at, Post.updated_at)
    .where(Post.user_id == bindparam("user_id"))
    .order_by(Post.id.desc())
    .limit(bindparam("limit"))
)
PAGE_FIRST = Prepared(_PAGE, ListedPost)
PAGE_BEFORE = Prepared(_PAGE.where(Post.id < bindparam("before")), ListedPost)


async def select_posts(
    session: AsyncSession, *, user_id: int, before: int | None, limit: int
) -> Sequence[PostRow]:
    """One page of the user's posts, newest first, keyset-paginated on ``(user_id, id)``."""
    if before is None:
        return await PAGE_FIRST.all(session, {"user_id": user_id, "limit": limit})
    return await PAGE_BEFORE.all(session, {"user_id": user_id, "limit": limit, "before": before})


async def select_post(session: AsyncSession, *, post_id: int, user_id: int) -> Post | None:
    """The post if it exists and belongs to the user; anyone else's is ``None`` (404)."""
    result = await session.execute(select(Post).where(Post.id == post_id, Post.user_id == user_id))
    return result.scalar_one_or_none()


# One INSERT ... RETURNING, built once and run on the driver: the ORM unit of work
# (add + flush) cost more than the write itself on the hottest write path.
INSERT_POST = Prepared(
    insert(Post)
    .values(
        user_id=bindparam("user_id"),
        title=bindparam("title"),
        body=bindparam("body"),
        created_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .returning(Post.id, Post.title, Post.body, Post.created_at, Post.updated_at),
    ListedPost,
)


async def insert_post(
    session: AsyncSession, *, user_id: int, title: str, body: str, now: datetime
) -> PostRow:
    """Create a post."""
    params = {"user_id": user_id, "title": title, "body": body, "now": now}
    (row,) = await INSERT_POST.all(session, params)
    return row


async def update_post(
    session: AsyncSession,
    *,
    post_id: int,
    user_id: int,
    changes: dict[str, str],
    now: datetime,
) -> Post | None:
    """Apply ``changes`` (title and/or body) to the user's post in one statement."""
    result = await session.execute(
        update(Post)
        .where(Post.id == post_id, Post.user_id == user_id)
        .values(**changes, updated_at=now)
        .returning(Post),
        execution_options={"synchronize_session": False},
    )
    return result.scalar_one_or_none()


class DeletedPost(NamedTuple):
    """The id of a post just deleted."""

    id: int


DELETE_POST = Prepared(
    delete(Post)
    .where(Post.id == bindparam("post_id"), Post.user_id == bindparam("user_id"))
    .returning(Post.id),
    DeletedPost,
)


async def delete_post(session: AsyncSession, *, post_id: int, user_id: int) -> bool:
    """Delete the user's post; of two racing deletes exactly one sees ``True``."""
    return bool(await DELETE_POST.all(session, {"post_id": post_id, "user_id": user_id}))


async def count_posts(session: AsyncSession, *, user_id: int, since: int | None = None) -> int:
    """How many posts the user has (with ``since``: with an id of at least ``since``)."""
    query = select(func.count()).select_from(Post).where(Post.user_id == user_id)
    if since is not None:
        query = query.where(Post.id >= since)
    return int((await session.execute(query)).scalar_one())


async def select_newer_ids(
    session: AsyncSession, *, user_id: int, since: int, limit: int
) -> list[int]:
    """The ids of the user's ``limit`` posts nearest above ``since`` (``since`` included)."""
    result = await session.execute(
        select(Post.id)
        .where(Post.user_id == user_id, Post.id >= since)
        .order_by(Post.id)
        .limit(limit)
    )
    return list(result.scalars().all())
