"""The posts API: the logged-in user's own posts only; anyone else's is 404."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart.typing import ResponseReturnValue
from quart_auth import login_required
from quart_schema import document_response, operation_id, validate_querystring, validate_request

from quart_blog.errors import NOT_FOUND, APIError
from quart_blog.openapi import NoContent
from quart_blog.posts import service as posts
from quart_blog.posts.queries import PostRow
from quart_blog.posts.schemas import PostIn, PostOut, PostPage, PostPatch, PostsQuery
from quart_blog.serving.responses import json_response, no_content

bp = Blueprint("posts", __name__, url_prefix="/posts")


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


def no_such_post() -> APIError:
    """The same 404 for missing posts and other users' posts."""
    return APIError(404, NOT_FOUND, "No such post.")


@bp.get("")
@login_required
@validate_querystring(PostsQuery)
@operation_id("listPosts")
@document_response(PostPage, 200)
async def index(query_args: PostsQuery) -> ResponseReturnValue:
    """A page of your posts, newest first; pass ``next`` back as ``before``."""
    page, next_before = await posts.page_of_posts(before=query_args.before, limit=query_args.limit)
    return json_response({"items": [post_json(post) for post in page], "next": next_before})


@bp.post("")
@login_required
@validate_request(PostIn)
@operation_id("createPost")
@document_response(PostOut, 201)
async def create(data: PostIn) -> ResponseReturnValue:
    """Write a post."""
    post = await posts.create_post(title=data.title, body=data.body)
    return json_response(post_json(post), 201)


@bp.get("/<id:post_id>")
@login_required
@operation_id("getPost")
@document_response(PostOut, 200)
async def detail(post_id: int) -> ResponseReturnValue:
    """One of your posts."""
    post = await posts.load_post(post_id)
    if post is None:
        raise no_such_post()
    return json_response(post_json(post))


@bp.patch("/<id:post_id>")
@login_required
@validate_request(PostPatch)
@operation_id("updatePost")
@document_response(PostOut, 200)
async def edit(post_id: int, data: PostPatch) -> ResponseReturnValue:
    """Change the title and/or body of one of your posts."""
    post = await posts.edit_post(post_id, data.model_dump(exclude_none=True))
    if post is None:
        raise no_such_post()
    return json_response(post_json(post))


@bp.delete("/<id:post_id>")
@login_required
@operation_id("deletePost")
@document_response(NoContent, 204)
async def delete(post_id: int) -> ResponseReturnValue:
    """Delete one of your posts."""
    if not await posts.delete_post(post_id):
        raise no_such_post()
    return no_content()
