"""``GET /api/docs``: the API reference, Swagger UI rendering ``/openapi.json`` (SPEC §6).

Swagger UI's files come from the swagger-ui-bundle-v2 package and are served by the site
itself, never from a CDN. The page starts it with ``static/api-docs.js``, because the CSP
(``security/headers.py``) allows no inline script; Swagger UI needs nothing beyond that CSP.
Only the two files the page loads are served: the package's own ``index.html``, its
initializer (which opens a demo document elsewhere) and its OAuth pages are not.
"""

from __future__ import annotations

from quart import Blueprint, Response, abort, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("api_docs", __name__)

ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})
# They change only with the package, so browsers may keep them for a day.
ASSET_MAX_AGE = 24 * 60 * 60


@bp.get("/api/docs")
async def page() -> str:
    """The reference page."""
    return await render_template("api/docs.html")


@bp.get("/api/docs/assets/<name>")
async def asset(name: str) -> Response:
    """One of Swagger UI's files."""
    if name not in ASSETS:
        abort(404)
    return await send_from_directory(str(swagger_ui_path), name, cache_timeout=ASSET_MAX_AGE)
