"""Turn rows into the API's JSON shapes (SPEC §6)."""

from __future__ import annotations

from typing import Any

from quart_blog.models import User
from quart_blog.queries.posts import PostRow


def user_json(user_id: int, username: str) -> dict[str, Any]:
    """``{"id", "username"}``."""
    return {"id": user_id, "username": username}


def user_row_json(user: User) -> dict[str, Any]:
    """``{"id", "username"}`` of a user row."""
    return user_json(user.id, user.username)


def post_json(post: PostRow) -> dict[str, Any]:
    """``{"id", "title", "body", "created_at", "updated_at"}`` (``json_response`` writes the
    timestamps as ISO 8601 UTC)."""
    return {
        "id": post.id,
        "title": post.title,
        "body": post.body,
        "created_at": post.created_at,
        "updated_at": post.updated_at,
    }
