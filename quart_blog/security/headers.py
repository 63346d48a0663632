"""Security headers added to every response."""

from __future__ import annotations

from typing import TypeVar

from quart import Response, g, request
from werkzeug.sansio.response import Response as AnyResponse

from quart_blog.accounts.sessions import SessionUser, session_cookie

ResponseT = TypeVar("ResponseT", bound=AnyResponse)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
STATIC_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# (lower-case name, name, value): compared against the lower-cased names a view has set.
_STATIC_BY_LOWER_NAME = tuple((name.lower(), name, value) for name, value in STATIC_HEADERS.items())
HSTS = "max-age=63072000; includeSubDomains"
# On logout (SPEC §13): the browser drops its cache and storage of this site. Not
# "cookies": the auth cookie goes by its own Set-Cookie, and the device cookie must stay.
LOGOUT_CLEAR_SITE_DATA = '"cache", "storage"'


async def add_security_headers(response: Response) -> Response:
    """Set the SPEC §8 headers; HSTS only over HTTPS, where browsers honour it."""
    # One pass over what the view set, not a lookup per header: werkzeug's lookup of a
    # missing header raises and catches an exception, ~2 µs each, on every response.
    # (keys(): iterating werkzeug's Headers gives pairs.)
    present = {name.lower() for name in response.headers.keys()}  # noqa: SIM118
    for lower_name, name, value in _STATIC_BY_LOWER_NAME:
        if lower_name not in present:
            response.headers.add(name, value)
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = HSTS
    if resolved_a_user():
        # Made for a logged-in user (SPEC §13): never kept, whatever the view said.
        response.headers["Cache-Control"] = "no-store"
    elif "Cache-Control" not in response.headers and not request.path.startswith("/static/"):
        # Pages show private data: a shared cache or the back button after logout must not.
        response.headers["Cache-Control"] = "no-store"
    return response


def resolved_a_user() -> bool:
    """Whether this request already found a logged-in user (by session cookie or API token).

    Reads only what the request's ``SessionUser`` kept from its one lookup and never looks
    anything up itself, so requests that needed no user (static files, health checks)
    cost nothing more.
    """
    user = g.get(session_cookie.attribute_name)
    return isinstance(user, SessionUser) and user.already_found is not None


def clear_site_data_on_logout(response: ResponseT) -> ResponseT:
    """Add the logout ``Clear-Site-Data`` header to ``response``."""
    response.headers["Clear-Site-Data"] = LOGOUT_CLEAR_SITE_DATA
    return response
