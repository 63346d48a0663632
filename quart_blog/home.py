"""The home page."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart.typing import ResponseReturnValue
from quart_auth import login_required

from quart_blog.accounts.sessions import current_session

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
async def index() -> ResponseReturnValue:
    """Greet the logged-in user."""
    active = await current_session()
    return await render_template("home.html", username=active.username)
