"""Health check for load balancers and benchmarks."""

from __future__ import annotations

from quart import Blueprint, current_app
from quart.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from quart_blog.db import ping

bp = Blueprint("health", __name__)


@bp.get("/healthz")
async def healthz() -> ResponseReturnValue:
    """200 when the database answers, else 503."""
    try:
        await ping()
    except (SQLAlchemyError, OSError) as error:
        current_app.logger.warning("health check failed: %s", error)
        return {"status": "unavailable"}, 503
    return {"status": "ok"}
