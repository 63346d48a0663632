"""The JSON API under ``/api/v1``: same cookie session as the pages, JSON everywhere."""

from __future__ import annotations

from quart import Blueprint, Quart, request
from quart_schema import QuartSchema

from quart_blog.accounts import api as accounts_api
from quart_blog.errors import UNSUPPORTED_MEDIA_TYPE, APIError
from quart_blog.posts import api as posts_api
from quart_blog.recovery import api as recovery_api

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.register_blueprint(accounts_api.bp)
bp.register_blueprint(posts_api.bp)
bp.register_blueprint(recovery_api.bp)

# The OpenAPI document only: the bundled UIs load inline script, which the CSP forbids.
schema = QuartSchema(
    openapi_path="/openapi.json",
    swagger_ui_path=None,
    redoc_ui_path=None,
    scalar_ui_path=None,
    info={"title": "quart-blog API", "version": "1"},
)


def init_app(app: Quart) -> None:
    """Mount the API and its OpenAPI document."""
    schema.init_app(app)
    app.register_blueprint(bp)


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
