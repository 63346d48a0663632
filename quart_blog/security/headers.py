"""Security headers added to every response."""

from __future__ import annotations

from quart import Response, request

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
HSTS = "max-age=63072000; includeSubDomains"


async def add_security_headers(response: Response) -> Response:
    """Set the SPEC §8 headers; HSTS only over HTTPS, where browsers honour it."""
    for name, value in STATIC_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = HSTS
    if "Cache-Control" not in response.headers and not request.path.startswith("/static/"):
        # Pages show private data: a shared cache or the back button after logout must not.
        response.headers["Cache-Control"] = "no-store"
    return response
