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
- the cookie login, as a security scheme required by every ``login_required`` route.
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

from quart_blog.accounts.sessions import session_cookie
from quart_blog.errors import CODES_BY_STATUS, ErrorOut

API_PREFIX = "/api/v1/"
COOKIE_SCHEME = "cookieAuth"
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
    403: "A request from another site, refused (Sec-Fetch-Site or Origin).",
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
ERROR_CODES = {400: ("bad_request", "invalid_token"), 403: ("csrf_failed",)}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RST_LITERAL = re.compile(r"``([^`]+)``")


class NoContent(BaseModel):
    """No body: ``document_response(NoContent, 204)``."""


def _login_required_code() -> object:
    async def probe() -> None:
        return None

    return login_required(probe).__code__


# quart_auth.login_required marks nothing on the route: its wrapper is found by its code.
LOGIN_REQUIRED_CODE = _login_required_code()


def needs_login(func: Callable[..., Any]) -> bool:
    """Whether ``login_required`` is among the decorators of a view (``functools.wraps`` chain)."""
    current: Any = func
    while current is not None:
        if getattr(current, "__code__", None) is LOGIN_REQUIRED_CODE:
            return True
        current = getattr(current, "__wrapped__", None)
    return False


def shape_errors(rule: Rule, method: str, func: Callable[..., Any]) -> set[int]:
    """The errors an operation answers because of the shape of its route."""
    statuses = {500}  # errors.handle_unexpected
    if needs_login(func):
        statuses.add(401)
    if method in BODY_METHODS:
        statuses |= {403, 415}  # csrf.check_api_origin, api_v1.require_json_body
    if hasattr(func, QUART_SCHEMA_REQUEST_ATTRIBUTE):
        statuses |= {400, 413, 422}  # malformed JSON, over MAX_CONTENT_LENGTH, invalid fields
    if hasattr(func, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE):
        statuses.add(422)
    if hasattr(func, QUART_RATE_LIMITER_LIMITS_ATTRIBUTE):
        statuses.add(429)  # Quart-Rate-Limiter's per-address limits
    if rule.arguments:  # every path parameter of the API is a row id (the ``id`` converter)
        statuses.add(404)  # no such row, or another user's
    return statuses


def error_response(status: int) -> dict[str, Any]:
    """The response object of one error status."""
    codes = ", ".join(f"`{code}`" for code in ERROR_CODES.get(status, (CODES_BY_STATUS[status],)))
    response: dict[str, Any] = {
        "description": f"{ERROR_MEANINGS[status]} Code: {codes}.",
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
        for status, (model, _headers) in declared.items():
            if status >= 400:
                responses[status] = error_response(status)
            elif model is NoContent:
                responses[status] = {"description": HTTPStatus(status).phrase}
            else:
                built = operation["responses"][status]
                built["description"] = built["description"] or HTTPStatus(status).phrase
                responses[status] = built
        for status in shape_errors(rule, method.upper(), func):
            responses.setdefault(status, error_response(status))
        operation["responses"] = {str(status): responses[status] for status in sorted(responses)}
        if "summary" in operation:
            # The summary is a docstring's first line, reST (``name``); OpenAPI's is plain text.
            operation["summary"] = RST_LITERAL.sub(r'"\1"', operation["summary"])
        operation["security"] = [{COOKIE_SCHEME: []}] if needs_login(func) else []
        return operation
