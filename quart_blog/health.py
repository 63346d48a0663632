"""Health check for load balancers and benchmarks."""

from __future__ import annotations

from quart import Blueprint, current_app
from quart.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from quart_blog.db import ping
from quart_blog.serving.responses import json_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
async def healthz() -> ResponseReturnValue:
    """200 when the database answers, else 503."""
    try:
        await ping()
    except (SQLAlchemyError, OSError) as error:
        current_app.logger.warning("health check failed: %s", error)
        return json_response({"status": "unavailable"}, 503)
    return json_response({"status": "ok"})
