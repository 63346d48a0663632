"""The security-log page: what happened to your account lately, newest first."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart.typing import ResponseReturnValue
from quart_auth import login_required

from quart_blog.events import service
from quart_blog.events.retention import RETENTION

bp = Blueprint("events", __name__, url_prefix="/account")


@bp.get("/security")
@login_required
async def index() -> ResponseReturnValue:
    """The latest events: what, when, from which address and device."""
    return await render_template(
        "events/index.html",
        events=await service.latest_events(),
        shown=service.PAGE_LATEST,
        retention_days=RETENTION.days,
    )
