"""The OpenAPI document of the JSON API (SPEC §6): Quart-Schema's, completed in one place.

The routes describe themselves with Quart-Schema's decorators: request and response models,
docstrings, ``operation_id``, and ``document_response(ErrorOut, STATUS)`` for the errors only
their code knows (409 taken, 429 from a counted password check, 503 from a busy hasher).
``BlogOpenAPIProvider`` adds what Quart-Schema cannot know or express:

- only ``/api/v1`` routes: the HTML pages, ``/healthz`` and the document itself are no API;
- a path parameter's schema from its converter (``openapi_schema``: the ``id`` converter's
  integers), where Quart-Schema knows only Werkzeug's own converters;
- the errors that follow from the shape of a route (``shape_errors``), every one with the
  ``{"error": {"code", "message"}}`` schema, and ``Retry-After`` on 429 and 503
  (Quart-Schema 0.25 writes response headers inside ``content``, which is not valid OpenAPI);
- ``204`` without a body (``NoContent``), a description on every response, plain summaries;
- the two ways to authenticate as security schemes: the cookie login on every
  ``login_required`` route, and a Bearer API token on the routes ``tokens.policy`` opens to
  tokens (with the role ``write`` where a read token is refused), and the 403 codes that
  follow (``token_not_allowed`` everywhere else, ``insufficient_scope``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from quart import Quart
from quart_auth import login_required
from quart_rate_limiter import QUART_RATE_LIMITER_LIMITS_ATTRIBUTE
from quart_schema import QuartSchema
from quart_schema.openapi import QUART_SCHEMA_OPERATION_ID_ATTRIBUTE, OpenAPIProvider
from quart_schema.validation import (
    QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
    QUART_SCHEMA_RESPONSE_ATTRIBUTE,
)
from werkzeug.routing import BaseConverter, Rule

from quart_blog.accounts.reauth import REAUTH_REQUIRED, recent_auth_required
from quart_blog.accounts.sessions import session_cookie
from quart_blog.errors import CODES_BY_STATUS, CSRF_FAILED, ErrorOut
from quart_blog.tokens.policy import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    READ_METHODS,
    TOKEN_NOT_ALLOWED,
    WRITE,
    accepts_token,
)

API_PREFIX = "/api/v1/"
COOKIE_SCHEME = "cookieAuth"
BEARER_SCHEME = "bearerAuth"
SECURITY_SCHEMES = {
    COOKIE_SCHEME: {
        "type": "apiKey",
        "in": "cookie",
        "name": session_cookie.cookie_name,
        "description": (
            "The session cookie that `POST /api/v1/login` sets (HttpOnly, SameSite=Lax; "
            "30 days with `remember`, else until the browser closes). It is the same session "
            "as the site's pages, revoked server-side by `POST /api/v1/logout`."
        ),
    },
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "qb_ and 43 URL-safe characters",
        "description": (
            "A personal API token (`POST /api/v1/tokens`, or the page `/account/tokens`), sent "
            "as `Authorization: Bearer TOKEN`; with the header the cookie is not read. Scope "
            "`read` may GET; `write` (the role this document names) may also change posts. "
            "Revoked or expired: 401 `invalid_token`."
        ),
    },
}
ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/ErrorOut"}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
# What each error status means in this API; the body is always ErrorOut.
ERROR_MEANINGS = {
    400: "Malformed JSON, or a value refused (a wrong current password, an unusable token).",
    401: "Not logged in, the session has ended, or wrong credentials.",
    403: "Refused:",
    404: "No such post, or not yours: the two are not told apart.",
    409: "Conflicts with existing data: the username or e-mail address is taken.",
    413: "The body is over 1 MiB.",
    415: "The body is not `application/json`.",
    422: "A field is missing, of the wrong type, too long or out of range.",
    429: "Too many attempts: wait `Retry-After` seconds.",
    500: "Something went wrong on the server's side.",
    503: "The server is busy checking passwords: retry after `Retry-After` seconds.",
}
# `error.code` by status is errors.CODES_BY_STATUS, but for these.
ERROR_CODES = {400: ("bad_request", "invalid_token"), 403: (CSRF_FAILED,)}
# Why a 403 comes, by its code (an operation lists those it can answer).
FORBIDDEN_MEANINGS = {
    CSRF_FAILED: "a request from another site (Sec-Fetch-Site or Origin)",
    REAUTH_REQUIRED: "confirm it is you first (`POST /api/v1/reauth`)",
    TOKEN_NOT_ALLOWED: "an API token is not accepted here",
    INSUFFICIENT_SCOPE: "a `read` token may only GET",
}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RST_LITERAL = re.compile(r"``([^`]+)``")


class NoContent(BaseModel):
    """No body: ``document_response(NoContent, 204)``."""


def _wrapper_code(decorator: Callable[[Any], Any]) -> object:
    async def probe() -> None:
        return None

    return decorator(probe).__code__


# These decorators mark nothing on the route: their wrappers are found by their code.
LOGIN_REQUIRED_CODE = _wrapper_code(login_required)
RECENT_AUTH_CODE = _wrapper_code(recent_auth_required())


def decorated_with(func: Callable[..., Any], code: object) -> bool:
    """Whether a wrapper with ``code`` is among a view's decorators (``functools.wraps`` chain)."""
    current: Any = func
    while current is not None:
        if getattr(current, "__code__", None) is code:
            return True
        current = getattr(current, "__wrapped__", None)
    return False


def needs_login(func: Callable[..., Any]) -> bool:
    """Whether ``login_required`` is among the decorators of a view."""
    return decorated_with(func, LOGIN_REQUIRED_CODE)


def takes_token(rule: Rule, func: Callable[..., Any]) -> bool:
    """Whether an API token authenticates the route (``tokens.policy``'s allow-list)."""
    return needs_login(func) and accepts_token(rule.endpoint)


def security(rule: Rule, method: str, func: Callable[..., Any]) -> list[dict[str, list[str]]]:
    """The operation's security requirement: the alternatives that authenticate it."""
    if not needs_login(func):
        return []
    alternatives: list[dict[str, list[str]]] = [{COOKIE_SCHEME: []}]
    if takes_token(rule, func):
        alternatives.append({BEARER_SCHEME: [] if method in READ_METHODS else [WRITE]})
    return alternatives


def error_codes(rule: Rule, method: str, func: Callable[..., Any]) -> dict[int, tuple[str, ...]]:
    """The ``error.code`` values of the statuses whose codes depend on the operation."""
    forbidden = []
    if method in BODY_METHODS:
        forbidden.append(CSRF_FAILED)
    if decorated_with(func, RECENT_AUTH_CODE):
        forbidden.append(REAUTH_REQUIRED)
    if not takes_token(rule, func):
        forbidden.append(TOKEN_NOT_ALLOWED)
    elif method not in READ_METHODS:
        forbidden.append(INSUFFICIENT_SCOPE)
    codes = {403: tuple(forbidden)}
    if takes_token(rule, func):
        codes[401] = (CODES_BY_STATUS[401], INVALID_TOKEN)
    return codes


def shape_errors(rule: Rule, method: str, func: Callable[..., Any]) -> set[int]:
    """The errors an operation answers because of the shape of its route."""
    statuses = {500}  # errors.handle_unexpected
    if needs_login(func):
        statuses.add(401)
    if method in BODY_METHODS:
        statuses |= {403, 415}  # csrf.check_api_origin, api_v1.require_json_body
    if not takes_token(rule, func) or method not in READ_METHODS:
        statuses.add(403)  # tokens.policy: token_not_allowed, insufficient_scope
    if hasattr(func, QUART_SCHEMA_REQUEST_ATTRIBUTE):
        statuses |= {400, 413, 422}  # malformed JSON, over MAX_CONTENT_LENGTH, invalid fields
    if hasattr(func, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE):
        statuses.add(422)
    if hasattr(func, QUART_RATE_LIMITER_LIMITS_ATTRIBUTE):
        statuses.add(429)  # Quart-Rate-Limiter's per-address limits
    if rule.arguments:  # every path parameter of the API is a row id (the ``id`` converter)
        statuses.add(404)  # no such row, or another user's
    return statuses


def error_response(status: int, codes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The response object of one error status (``codes``: its ``error.code`` values)."""
    codes = codes or ERROR_CODES.get(status, (CODES_BY_STATUS[status],))
    meaning = ERROR_MEANINGS[status]
    if status == 403:
        meaning += " " + "; ".join(FORBIDDEN_MEANINGS.get(code, code) for code in codes) + "."
    listed = ", ".join(f"`{code}`" for code in codes)
    response: dict[str, Any] = {
        "description": f"{meaning} Code: {listed}.",
        "content": {"application/json": {"schema": dict(ERROR_SCHEMA_REF)}},
    }
    if status in (429, 503):
        response["headers"] = copy.deepcopy(RETRY_AFTER)
    return response


def error_components() -> dict[str, Any]:
    """``ErrorOut`` and the models it refers to, as component schemas."""
    schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return {**definitions, "ErrorOut": schema}


class BlogOpenAPIProvider(OpenAPIProvider):
    """Quart-Schema's document of the ``/api/v1`` routes, completed (see the module)."""

    def __init__(self, app: Quart, extension: QuartSchema) -> None:
        super().__init__(app, extension)
        self.app = app  # our own handle: the base class keeps its proxy private

    def schema(self) -> dict[str, Any]:
        document = super().schema()
        document["components"]["schemas"].update(error_components())
        document["components"]["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
        return document

    def generate_rules(self) -> Iterable[Rule]:
        return (rule for rule in super().generate_rules() if rule.rule.startswith(API_PREFIX))

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        parameter = super().build_path_parameter(name, converter)
        schema = getattr(converter, "openapi_schema", None)
        if schema is not None:
            parameter["schema"] = dict(schema)
        return parameter

    def operation_id(self, method: str, path: str, func: Callable[..., Any]) -> str | None:
        # A route's own operation_id as it is: Quart-Schema would prefix the method.
        explicit: str | None = getattr(func, QUART_SCHEMA_OPERATION_ID_ATTRIBUTE, None)
        return explicit if explicit is not None else super().operation_id(method, path, func)

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        func = self.app.view_functions[rule.endpoint]
        for path_item in paths.values():
            for method, operation in list(path_item.items()):
                # Quart-Schema shares one responses dict between a rule's methods.
                path_item[method] = self.complete(copy.deepcopy(operation), rule, method, func)
        return paths, components

    def complete(
        self, operation: dict[str, Any], rule: Rule, method: str, func: Callable[..., Any]
    ) -> dict[str, Any]:
        """Every response described, every error with its schema, the login requirement."""
        declared: dict[int, tuple[type[Any], Any]] = getattr(
            func, QUART_SCHEMA_RESPONSE_ATTRIBUTE, {}
        )
        responses: dict[int, dict[str, Any]] = {}
        codes = error_codes(rule, method.upper(), func)
        for status, (model, _headers) in declared.items():
            if status >= 400:
                responses[status] = error_response(status, codes.get(status))
            elif model is NoContent:
                responses[status] = {"description": HTTPStatus(status).phrase}
            else:
                built = operation["responses"][status]
                built["description"] = built["description"] or HTTPStatus(status).phrase
                responses[status] = built
        for status in shape_errors(rule, method.upper(), func):
            responses.setdefault(status, error_response(status, codes.get(status)))
        operation["responses"] = {str(status): responses[status] for status in sorted(responses)}
        if "summary" in operation:
            # The summary is a docstring's first line, reST (``name``); OpenAPI's is plain text.
            operation["summary"] = RST_LITERAL.sub(r'"\1"', operation["summary"])
        operation["security"] = security(rule, method.upper(), func)
        return operation
