"""Errors as data, and the handlers that shape every error response.

Under ``/api`` every error is ``{"error": {"code", "message"}}``; elsewhere it
is an HTML page. Nothing ever shows a traceback.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field, ValidationError
from quart import Quart, Response, current_app, redirect, render_template, request
from quart.typing import ResponseReturnValue
from quart_auth import Unauthorized
from quart_rate_limiter import RateLimitExceeded
from quart_schema import RequestSchemaValidationError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from quart_blog.accounts.passwords import HasherBusy
from quart_blog.security import csrf
from quart_blog.security.csrf import CSRFError
from quart_blog.serving.responses import json_response

BAD_REQUEST = "bad_request"
UNAUTHORIZED = "unauthorized"
INVALID_CREDENTIALS = "invalid_credentials"
FORBIDDEN = "forbidden"
CSRF_FAILED = "csrf_failed"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
CONFLICT = "conflict"
PAYLOAD_TOO_LARGE = "payload_too_large"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
VALIDATION_ERROR = "validation_error"
RATE_LIMITED = "rate_limited"
INTERNAL_ERROR = "internal_error"
UNAVAILABLE = "unavailable"

CODES_BY_STATUS = {
    400: BAD_REQUEST,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    409: CONFLICT,
    413: PAYLOAD_TOO_LARGE,
    415: UNSUPPORTED_MEDIA_TYPE,
    422: VALIDATION_ERROR,
    429: RATE_LIMITED,
    500: INTERNAL_ERROR,
    503: UNAVAILABLE,
}
MESSAGES_BY_STATUS = {
    400: "The request could not be understood.",
    401: "You need to log in.",
    403: "That is not allowed.",
    404: "Not found.",
    405: "That method is not allowed here.",
    409: "That conflicts with existing data.",
    413: "The request body is too large (1 MiB at most).",
    415: "Send the body as application/json.",
    422: "The input is not valid.",
    429: "Too many requests; try again later.",
    500: "Something went wrong on our side.",
    503: "The service is unavailable.",
}


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, for programs: `not_found`, `rate_limited`, …")
    message: str = Field(description="For a person: what went wrong, in a sentence.")


class ErrorOut(BaseModel):
    error: ErrorBody


class APIError(Exception):
    """An error answered as-is: ``status``, a stable ``code`` and a human ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def wants_json() -> bool:
    """API clients get JSON errors; browsers get pages."""
    return request.path.startswith("/api/") or request.path == "/openapi.json"


async def error_response(
    status: int, code: str | None = None, message: str | None = None, headers: Any = None
) -> Response:
    """Render one error as JSON or as a page."""
    code = code or CODES_BY_STATUS.get(status, BAD_REQUEST)
    message = message or MESSAGES_BY_STATUS.get(status, "Error.")
    if wants_json():
        response = json_response({"error": {"code": code, "message": message}}, status)
    else:
        page = await render_template("errors/error.html", status=status, message=message)
        response = Response(page, status=status, mimetype="text/html")
    for name, value in headers or ():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def how_long(seconds: int) -> str:
    """A wait as people say it: "40 seconds", "2 minutes", "1 hour 5 minutes"."""
    seconds = max(1, seconds)
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)  # rounded up: never promise less than the wait
    if minutes < 60:
        return f"{minutes} minutes"
    hours, minutes = divmod(minutes, 60)
    rest = f" {minutes} minute{'s' if minutes != 1 else ''}" if minutes else ""
    return f"{hours} hour{'s' if hours != 1 else ''}{rest}"


def describe_validation_error(error: Exception) -> str:
    """One readable line from a pydantic error: ``field: problem; …``."""
    if not isinstance(error, ValidationError):
        return "The input is not valid."
    parts = []
    for item in error.errors()[:5]:
        field = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)


def register_handlers(app: Quart) -> None:
    """Install the handlers that shape every error."""

    @app.errorhandler(APIError)
    async def handle_api_error(error: APIError) -> Response:
        return await error_response(error.status, error.code, error.message)

    @app.errorhandler(RequestSchemaValidationError)
    async def handle_schema_error(error: RequestSchemaValidationError) -> Response:
        return await error_response(
            422, VALIDATION_ERROR, describe_validation_error(error.validation_error)
        )

    @app.errorhandler(CSRFError)
    async def handle_csrf_error(error: CSRFError) -> ResponseReturnValue:
        if wants_json():
            return await error_response(403, CSRF_FAILED, error.message)
        # A stale page form (logged in or out in another tab): offer it again, filled in.
        fields = csrf.typed_fields(await request.form)
        action = request.full_path.rstrip("?") if request.query_string else request.path
        page = await render_template(
            "errors/stale_form.html", status=403, action=action, fields=fields
        )
        return page, 403

    @app.errorhandler(Unauthorized)
    async def handle_unauthorized(_error: Unauthorized) -> ResponseReturnValue:
        if wants_json():
            return await error_response(401)
        target = request.full_path.rstrip("?") if request.query_string else request.path
        # "/login?next=/posts" as SPEC §5 writes it: only the slashes stay unencoded.
        return redirect(f"/login?next={quote(target, safe='/')}", 303)

    @app.errorhandler(RateLimitExceeded)
    async def handle_rate_limited(error: RateLimitExceeded) -> Response:
        wait = error.retry_after if isinstance(error.retry_after, int) else 1
        message = f"Too many attempts; try again in {how_long(wait)}."
        return await error_response(429, message=message, headers=error.get_headers())

    @app.errorhandler(HasherBusy)
    async def handle_hasher_busy(_error: HasherBusy) -> Response:
        message = "The server is busy checking passwords; try again in a moment."
        return await error_response(503, UNAVAILABLE, message, headers=[("Retry-After", "1")])

    @app.errorhandler(DataError)
    async def handle_data_error(error: DataError) -> Response:
        # Input validation should stop these first; this is the net for values a
        # backend refuses (PostgreSQL: too long, out of range, NUL in text).
        current_app.logger.warning("database refused a value: %s", error.orig)
        return await error_response(422, VALIDATION_ERROR, "A value is out of range or too long.")

    @app.errorhandler(HTTPException)
    async def handle_http_exception(error: HTTPException) -> Response:
        status = error.code or 500
        message = error.description if status in (400, 413, 415) else None
        return await error_response(status, message=message, headers=error.get_headers())

    @app.errorhandler(Exception)
    async def handle_unexpected(error: Exception) -> Response:
        current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return await error_response(500)
