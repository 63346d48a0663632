"""The JSON API under ``/api/v1``: same cookie session as the pages, JSON everywhere."""

from __future__ import annotations

from quart import Blueprint, Quart, request
from quart_schema import QuartSchema, tag_blueprint

from quart_blog import api_docs
from quart_blog.account_data import api as account_data_api
from quart_blog.accounts import api as accounts_api
from quart_blog.errors import UNSUPPORTED_MEDIA_TYPE, APIError
from quart_blog.events import api as events_api
from quart_blog.mfa import api as mfa_api
from quart_blog.openapi import BlogOpenAPIProvider
from quart_blog.passkeys import api as passkeys_api
from quart_blog.posts import api as posts_api
from quart_blog.recovery import api as recovery_api
from quart_blog.tokens import api as tokens_api

bp = Blueprint("api", __name__, url_prefix="/api/v1")
TAGS = [
    (accounts_api.bp, "accounts", "Register, log in and out, who am I, change the password."),
    (posts_api.bp, "posts", "Your own posts: nobody else's are ever listed or found."),
    (recovery_api.bp, "recovery", "Your e-mail address, and a forgotten password."),
    (events_api.bp, "security log", "What happened to your account: logins, changes, where from."),
    (account_data_api.bp, "your data", "Everything of yours in one document, or delete it all."),
    (passkeys_api.bp, "passkeys", "Passkeys: add, list, remove; sign in or confirm with one."),
    (tokens_api.bp, "tokens", "Personal API tokens for scripts: `Authorization: Bearer`."),
    (mfa_api.bp, "second factor", "TOTP, recovery codes, and the login's code step."),
]
for blueprint, tag_name, _description in TAGS:
    tag_blueprint(blueprint, [tag_name])
    bp.register_blueprint(blueprint)

DESCRIPTION = """\
The JSON API of quart-blog. It shares the pages' cookie session: log in with
`POST /api/v1/login` and send the cookie back. Scripts can use a personal API token
instead (made at `POST /api/v1/tokens` or on `/account/tokens`): send
`Authorization: Bearer TOKEN` and no cookie is read. A token reaches the GETs under
`/api/v1/me` (not `/me/2fa`) and the posts, nothing else (403 `token_not_allowed`); a
`read` token only GETs (403 `insufficient_scope`); a revoked or expired one gets 401.

Bodies are `application/json` (anything else: 415) of at most 1 MiB (413).
Every error is `{"error": {"code": "…", "message": "…"}}` with its status, never an
HTML page; 429 and 503 say in `Retry-After` how many seconds to wait. A state-changing
request from another site is refused (403), unless it brings a token rather than the
cookie: no ambient credential rides along, so there is nothing to forge.
"""

# The bundled UIs of Quart-Schema load inline script (which the CSP forbids) from a CDN;
# api_docs serves Swagger UI from the site instead, at /api/docs.
schema = QuartSchema(
    openapi_path="/openapi.json",
    swagger_ui_path=None,
    redoc_ui_path=None,
    scalar_ui_path=None,
    info={"title": "quart-blog API", "version": "1", "description": DESCRIPTION},
    tags=[{"name": name, "description": description} for _bp, name, description in TAGS],
    openapi_provider_class=BlogOpenAPIProvider,
)


def init_app(app: Quart) -> None:
    """Mount the API, its OpenAPI document and its reference page."""
    schema.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(api_docs.bp)


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
