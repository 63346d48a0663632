"""The JSON API under ``/api/v1``: same cookie session as the pages, JSON everywhere."""

from __future__ import annotations

from quart import Blueprint, request

from quart_blog.api import auth, posts
from quart_blog.errors import UNSUPPORTED_MEDIA_TYPE, APIError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.register_blueprint(auth.bp)
bp.register_blueprint(posts.bp)

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@bp.before_request
async def require_json_body() -> None:
    """415 for a body that is not ``application/json``.

    A cross-site HTML form can only send form or text bodies, so this is also
    half of the API's CSRF defence (the other half is ``csrf.check_api_origin``).
    """
    if request.method not in BODY_METHODS:
        return
    has_body = bool(request.content_length) or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    if (has_body or request.content_type) and request.mimetype != "application/json":
        raise APIError(415, UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json.")
