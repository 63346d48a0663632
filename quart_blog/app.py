"""The application factory."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from hypercorn.middleware import ProxyFixMiddleware
from quart import Quart, get_flashed_messages, request
from quart.sessions import SecureCookieSession, SecureCookieSessionInterface
from quart.wrappers import BaseRequestWebsocket
from werkzeug.routing import BaseConverter

from quart_blog import db, errors, gc_tuning
from quart_blog.api import bp as api_bp
from quart_blog.asgi import BlogASGIHTTPConnection
from quart_blog.config import ConfigError, Settings
from quart_blog.extensions import auth, schema
from quart_blog.security import csrf, limits
from quart_blog.security.headers import add_security_headers
from quart_blog.security.passwords import PasswordHasher
from quart_blog.security.tokens import request_user
from quart_blog.validation import MAX_ID
from quart_blog.views import account, health, home, posts
from quart_blog.views import auth as auth_views
from quart_blog.wrappers import BlogRequest

ROOT = Path(__file__).resolve().parent.parent
MAX_BODY_BYTES = 1024 * 1024


class IdConverter(BaseConverter):
    """Row ids in URLs: 1 to 19 digits without a leading zero.

    An id above 2**63-1 becomes 0, which no row has, so it is a plain 404
    rather than a database overflow. (Raising ``ValidationError`` instead
    would make Werkzeug answer 405 for the other methods of the same path.)
    """

    regex = r"[1-9][0-9]{0,18}"
    weight = 50

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= MAX_ID else 0

    def to_url(self, value: Any) -> str:
        return str(int(value))


class BlogSessionInterface(SecureCookieSessionInterface):
    """Flash-message cookie: ``Secure`` exactly when the request came over HTTPS.

    Also skips building a signing serializer (a key derivation) for the many
    requests, API calls above all, that carry no session cookie at all.
    """

    async def open_session(
        self, app: Quart, request: BaseRequestWebsocket
    ) -> SecureCookieSession | None:
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return await super().open_session(app, request)

    def get_cookie_secure(self, app: Quart) -> bool:
        forced = app.config["SESSION_COOKIE_SECURE"]
        if forced is not None:
            return bool(forced)
        return request.is_secure


class BlogQuart(Quart):
    """Quart whose requests run to completion even when the client goes away (see ``asgi``)."""

    asgi_http_class = BlogASGIHTTPConnection


def create_app(overrides: Mapping[str, str] | None = None, *, testing: bool = False) -> Quart:
    """Build the app; ``overrides`` are environment variables (SPEC §4) that win over os.environ."""
    try:
        settings = Settings.from_env({**os.environ, **(overrides or {})})
    except ConfigError as error:
        if overrides is not None:
            raise
        # Started by a server (``hypercorn "quart_blog:create_app()"``): one line, no traceback.
        raise SystemExit(f"quart-blog: configuration error: {error}") from None
    app = BlogQuart(__name__, template_folder=str(ROOT / "templates"), static_folder="static")
    app.request_class = BlogRequest
    app.session_interface = BlogSessionInterface()
    app.url_map.converters["id"] = IdConverter
    configure(app, settings, testing=testing)

    db.init_app(app)
    auth.init_app(app)
    schema.init_app(app)
    hasher = app.extensions["quart_blog.passwords"] = PasswordHasher(settings.bcrypt_rounds)
    app.after_serving(to_async(hasher.close))
    store = app.extensions[limits.EXTENSION_KEY] = limits.make_store(settings.redis_url)
    limits.make_rate_limiter(store).init_app(app, enabled=settings.rate_limits)

    app.before_request(protect_state_changes)
    app.after_request(add_security_headers)
    app.context_processor(template_globals)
    errors.register_handlers(app)
    for blueprint in (home.bp, auth_views.bp, posts.bp, account.bp, health.bp, api_bp):
        app.register_blueprint(blueprint)

    if not testing:
        # Last, so it runs once every other start-up hook has built what it keeps.
        app.before_serving(to_async(gc_tuning.tune_for_serving))
    if not settings.rate_limits:
        app.logger.warning("RATE_LIMITS=off: brute-force limits are disabled (benchmarks only)")
    if settings.trusted_proxies:
        app.asgi_app = ProxyFixMiddleware(  # type: ignore[method-assign]
            app.asgi_app, mode="legacy", trusted_hops=settings.trusted_proxies
        )
    return app


def configure(app: Quart, settings: Settings, *, testing: bool) -> None:
    """Copy settings into Quart's and the extensions' config keys."""
    app.config.update(
        TESTING=testing,
        PROPAGATE_EXCEPTIONS=False,
        SECRET_KEY=settings.secret_keys[0],
        SECRET_KEY_FALLBACKS=list(settings.secret_keys[1:]),
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        TRUSTED_PROXIES=settings.trusted_proxies,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
        BODY_TIMEOUT=30,
        SESSION_COOKIE_NAME="quart_blog_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        QUART_AUTH_COOKIE_SECURE=settings.cookie_secure,
        QUART_RATE_LIMITER_ENABLED=settings.rate_limits,
    )


def to_async(function: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    """Wrap a plain callable as a serving hook."""

    async def hook() -> None:
        function()

    return hook


async def protect_state_changes() -> None:
    """CSRF checks for every state-changing request (SPEC §8), before any view runs."""
    if request.method in csrf.SAFE_METHODS:
        return
    if request.path.startswith("/api/"):
        csrf.check_api_origin()
    else:
        await csrf.check_form_token()


async def template_globals() -> dict[str, Any]:
    """What every page needs: who is logged in, the CSRF token, flashed messages."""
    active = await request_user().resolve()
    return {
        "current_username": None if active is None else active.username,
        "csrf_token": await csrf.generate_token(),
        "flashes": get_flashed_messages(with_categories=True),
    }
