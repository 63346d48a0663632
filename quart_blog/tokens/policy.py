"""Where an API token may go (SPEC §14), decided in one place before any view runs.

An allow-list keyed on the endpoint, so a new route is closed to tokens until someone
opens it here. SPEC §14 opens every GET under ``/api/v1/me`` except the second-factor
routes (``/api/v1/me/2fa…``) and every method of ``/api/v1/posts…``; everything else
(password, e-mail, second factor, passkeys, tokens, deletion, login, logout, reauth)
answers 403 ``token_not_allowed``. ``tests/tokens/test_token_policy.py`` holds this
list against ``app.url_map`` both ways.

A request that brings a token carries no ambient credential (a browser never adds an
``Authorization`` header on its own), so there is nothing to forge: it is checked
here instead of by the CSRF rules.
"""

from __future__ import annotations

from quart import Response, request

from quart_blog.accounts.sessions import request_user
from quart_blog.errors import error_response
from quart_blog.tokens import bearer

READ = "read"
WRITE = "write"
SCOPES = (READ, WRITE)
# What a read token may do; a write token may use every method of an open endpoint.
READ_METHODS = frozenset({"GET", "HEAD"})
TOKEN_ENDPOINTS = frozenset(
    {
        "api.auth.me",
        "api.events.index",  # GET /api/v1/me/events
        "api.account_data.export",  # GET /api/v1/me/export
        "api.posts.index",
        "api.posts.create",
        "api.posts.detail",
        "api.posts.edit",
        "api.posts.delete",
    }
)

# Error codes (S105 mistakes their names for passwords).
TOKEN_NOT_ALLOWED = "token_not_allowed"  # noqa: S105
INSUFFICIENT_SCOPE = "insufficient_scope"
INVALID_TOKEN = "invalid_token"  # noqa: S105
NOT_ALLOWED_MESSAGE = (
    "API tokens are not accepted here: this needs a logged-in session (send no Authorization"
    " header)."
)
MALFORMED_MESSAGE = "Send the token as 'Authorization: Bearer qb_…'."
INVALID_MESSAGE = "The API token is not valid: revoked, expired or unknown."
SCOPE_MESSAGE = "This token can only read; changes need a token with the write scope."
# RFC 6750 §3: how a client learns what went wrong with its token.
CHALLENGE_INVALID = 'Bearer realm="quart-blog", error="invalid_token"'
CHALLENGE_SCOPE = 'Bearer realm="quart-blog", error="insufficient_scope", scope="write"'


def accepts_token(endpoint: str | None) -> bool:
    """Whether a token may authenticate a request to ``endpoint`` at all."""
    return endpoint in TOKEN_ENDPOINTS


def scope_allows(scope: str, method: str) -> bool:
    """Whether a token of ``scope`` may use ``method`` on an endpoint open to tokens."""
    return scope == WRITE or method in READ_METHODS


async def enforce() -> Response | None:
    """Refuse a request's token where it may not go (403), when it is not good (401),
    or when its scope is too small (403); ``None`` lets the request on.

    A request that routing refuses (404, 405) is left to that answer.
    """
    authorization = request_user().authorization
    rule = request.url_rule
    if authorization is None or rule is None:
        return None
    if not accepts_token(rule.endpoint):
        return await error_response(403, TOKEN_NOT_ALLOWED, NOT_ALLOWED_MESSAGE)
    if bearer.parse(authorization) is None:
        return await refusal(401, INVALID_TOKEN, MALFORMED_MESSAGE, CHALLENGE_INVALID)
    await request_user().resolve()
    token = request_user().api_token
    if token is None:
        return await refusal(401, INVALID_TOKEN, INVALID_MESSAGE, CHALLENGE_INVALID)
    if not scope_allows(token.scope, request.method):
        return await refusal(403, INSUFFICIENT_SCOPE, SCOPE_MESSAGE, CHALLENGE_SCOPE)
    return None


async def refusal(status: int, code: str, message: str, challenge: str) -> Response:
    """The JSON error, with the ``WWW-Authenticate`` challenge that names the problem."""
    return await error_response(status, code, message, headers=[("WWW-Authenticate", challenge)])
