"""The logged-in user's posts: the one place pages and API load and change them.

Every function acts for the request's logged-in session (``login_required``
has resolved it) and passes that user's id into the query, so ownership is
always enforced in SQL; a foreign or missing post is simply ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quart_blog.accounts.sessions import current_session
from quart_blog.clock import utcnow
from quart_blog.db import get_session, single_write
from quart_blog.posts import queries
from quart_blog.posts.models import Post
from quart_blog.posts.queries import PostRow


async def page_of_posts(*, before: int | None, limit: int) -> tuple[Sequence[PostRow], int | None]:
    """Up to ``limit`` posts, newest first, and the ``before`` id of the next page (or None)."""
    active = await current_session()
    rows = await queries.select_posts(
        get_session(), user_id=active.user_id, before=before, limit=limit + 1
    )
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)


@dataclass(frozen=True)
class PostsPage:
    """A page of the posts list as a reader moves through it."""

    posts: Sequence[PostRow]
    older: int | None  # ``before`` of the next, older page
    newer: int | None  # ``before`` of the previous, newer page (0: the first page)
    first_number: int  # the position of this page's first post, from 1 (newest)
    total: int


async def browse_posts(*, before: int | None, limit: int) -> PostsPage:
    """``page_of_posts`` plus the way back and where the page is among all the posts.

    Only the HTML list needs these (three small indexed queries more); the API pages on
    with ``next`` alone.
    """
    posts, older = await page_of_posts(before=before, limit=limit)
    active = await current_session()
    db = get_session()
    total = await queries.count_posts(db, user_id=active.user_id)
    if before is None:
        return PostsPage(posts, older, None, 1, total)
    ahead = await queries.count_posts(db, user_id=active.user_id, since=before)
    nearest = await queries.select_newer_ids(
        db, user_id=active.user_id, since=before, limit=limit + 1
    )
    # The newer page holds the ``limit`` posts just above this one; it starts "before" the
    # post after them, or is the first page when there are no more than ``limit``.
    newer = None if not nearest else (nearest[limit] if len(nearest) > limit else 0)
    return PostsPage(posts, older, newer, ahead + 1, total)


async def load_post(post_id: int) -> Post | None:
    """One of the user's posts."""
    active = await current_session()
    return await queries.select_post(get_session(), post_id=post_id, user_id=active.user_id)


async def create_post(*, title: str, body: str) -> PostRow:
    """Write a new post."""
    active = await current_session()
    db = get_session()
    async with single_write(db):
        return await queries.insert_post(
            db, user_id=active.user_id, title=title, body=body, now=utcnow()
        )


async def edit_post(post_id: int, changes: dict[str, str]) -> Post | None:
    """Change title and/or body; ``None`` when the post is not the user's (or is gone)."""
    active = await current_session()
    db = get_session()
    async with single_write(db):
        return await queries.update_post(
            db, post_id=post_id, user_id=active.user_id, changes=changes, now=utcnow()
        )


async def delete_post(post_id: int) -> bool:
    """Delete one of the user's posts; of two racing deletes exactly one is ``True``."""
    active = await current_session()
    db = get_session()
    async with single_write(db):
        return await queries.delete_post(db, post_id=post_id, user_id=active.user_id)
