"""The home page."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart.typing import ResponseReturnValue
from quart_auth import login_required

from quart_blog.accounts.sessions import current_session
from quart_blog.posts import service as posts

bp = Blueprint("home", __name__)

LATEST = 5


@bp.get("/")
@login_required
async def index() -> ResponseReturnValue:
    """Greet the logged-in user with their latest posts and a way to write one."""
    active = await current_session()
    latest, more = await posts.page_of_posts(before=None, limit=LATEST)
    return await render_template(
        "home.html", username=active.username, latest=latest, more=more is not None
    )
