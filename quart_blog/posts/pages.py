"""Pages for the logged-in user's own posts; anyone else's post is a 404."""

from __future__ import annotations

from quart import Blueprint, abort, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue
from quart_auth import login_required

from quart_blog.forms import field, submitted_form
from quart_blog.posts import service as posts
from quart_blog.posts.models import Post
from quart_blog.validation import MAX_ID, body_problem, clean_title

bp = Blueprint("posts", __name__, url_prefix="/posts")

PAGE_SIZE = 20


def before_arg() -> int | None:
    """``?before=ID`` as a bounded integer; anything else is a 400."""
    raw = request.args.get("before")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 1 <= int(raw) <= MAX_ID:
        abort(400, "That page of posts does not exist: the link may be cut short.")
    return int(raw)


async def own_post_or_404(post_id: int) -> Post:
    """Load the current user's post; another user's post does not exist for us."""
    post = await posts.load_post(post_id)
    if post is None:
        abort(404)
    return post


async def read_post_form() -> tuple[str, str, str | None, str | None]:
    """Title (trimmed), body, the first problem with them and the field it is about."""
    form = await submitted_form()
    title, title_error = clean_title(field(form, "title"))
    body = field(form, "body")
    if title_error is not None:
        return title, body, title_error, "title"
    body_error = body_problem(body)
    return title, body, body_error, None if body_error is None else "body"


@bp.get("")
@login_required
async def index() -> ResponseReturnValue:
    """Your posts, newest first, a page at a time."""
    page = await posts.browse_posts(before=before_arg(), limit=PAGE_SIZE)
    return await render_template("posts/index.html", page=page, posts=page.posts)


@bp.get("/new")
@login_required
async def new() -> ResponseReturnValue:
    """The form for a new post."""
    return await render_template("posts/form.html", post=None, title="", body="")


@bp.post("")
@login_required
async def create() -> ResponseReturnValue:
    """Save a new post and show it."""
    title, body, problem, bad = await read_post_form()
    if problem is not None:
        page = await render_template(
            "posts/form.html", post=None, title=title, body=body, error=problem, bad=bad
        )
        return page, 400
    post = await posts.create_post(title=title, body=body)
    await flash("Post published.", "success")
    return redirect(url_for("posts.detail", post_id=post.id), 303)


@bp.get("/<id:post_id>")
@login_required
async def detail(post_id: int) -> ResponseReturnValue:
    """One of your posts."""
    return await render_template("posts/detail.html", post=await own_post_or_404(post_id))


@bp.get("/<id:post_id>/edit")
@login_required
async def edit_form(post_id: int) -> ResponseReturnValue:
    """The edit form for one of your posts."""
    post = await own_post_or_404(post_id)
    return await render_template("posts/form.html", post=post, title=post.title, body=post.body)


@bp.post("/<id:post_id>/edit")
@login_required
async def edit(post_id: int) -> ResponseReturnValue:
    """Save changes to one of your posts."""
    post = await own_post_or_404(post_id)
    title, body, problem, bad = await read_post_form()
    if problem is not None:
        page = await render_template(
            "posts/form.html", post=post, title=title, body=body, error=problem, bad=bad
        )
        return page, 400
    if await posts.edit_post(post_id, {"title": title, "body": body}) is None:
        # deleted in another tab meanwhile
        abort(404)
    await flash("Post saved.", "success")
    return redirect(url_for("posts.detail", post_id=post_id), 303)


@bp.get("/<id:post_id>/delete")
@login_required
async def delete_form(post_id: int) -> ResponseReturnValue:
    """Ask before deleting: the post's title and a Delete button (a GET never deletes)."""
    return await render_template("posts/delete.html", post=await own_post_or_404(post_id))


@bp.post("/<id:post_id>/delete")
@login_required
async def delete(post_id: int) -> ResponseReturnValue:
    """Delete one of your posts."""
    if not await posts.delete_post(post_id):
        abort(404)
    await flash("Post deleted.", "info")
    return redirect(url_for("posts.index"), 303)
