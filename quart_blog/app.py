"""The application factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from hypercorn.middleware import ProxyFixMiddleware
from quart import Quart, Response, get_flashed_messages, request
from quart.sessions import SecureCookieSession, SecureCookieSessionInterface
from quart.wrappers import BaseRequestWebsocket
from werkzeug.routing import BaseConverter

from quart_blog import api_v1, config, db, errors, health, home, mail
from quart_blog.account_data import pages as account_data_pages
from quart_blog.accounts import account_pages, passwords
from quart_blog.accounts import pages as account_auth_pages
from quart_blog.accounts.sessions import cookies_secure, request_user, session_cookie
from quart_blog.config import ConfigError, Settings
from quart_blog.events import pages as event_pages
from quart_blog.events import retention as event_retention
from quart_blog.mfa import pages as mfa_pages
from quart_blog.passkeys import pages as passkey_pages
from quart_blog.posts import pages as post_pages
from quart_blog.recovery import pages as recovery_pages
from quart_blog.recovery import service as recovery
from quart_blog.resources import resource_dir
from quart_blog.security import csrf, limits
from quart_blog.security.headers import add_security_headers
from quart_blog.serving import banner, gc_tuning
from quart_blog.serving.requests import BlogRequest
from quart_blog.serving.runner import RunToCompletion
from quart_blog.tokens import bearer
from quart_blog.tokens import pages as token_pages
from quart_blog.tokens import policy as token_policy
from quart_blog.validation import MAX_ID

MAX_BODY_BYTES = 1024 * 1024


class IdConverter(BaseConverter):
    """Row ids in URLs: 1 to 19 digits without a leading zero.

    An id above 2**63-1 becomes 0, which no row has, so it is a plain 404
    rather than a database overflow. (Raising ``ValidationError`` instead
    would make Werkzeug answer 405 for the other methods of the same path.)
    """

    regex = r"[1-9][0-9]{0,18}"
    weight = 50
    # The path parameter's schema in the OpenAPI document (quart_blog/openapi.py reads it).
    openapi_schema: ClassVar[dict[str, Any]] = {
        "type": "integer",
        "format": "int64",
        "minimum": 1,
        "maximum": MAX_ID,
    }

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= MAX_ID else 0

    def to_url(self, value: Any) -> str:
        return str(int(value))


class BlogSessionInterface(SecureCookieSessionInterface):
    """Flash-message cookie: ``Secure`` exactly when the request came over HTTPS.

    A request that carries no session cookie (API calls above all) gets an empty
    session at once, without building a signing serializer only to find nothing
    to verify. (itsdangerous derives its key at every sign and verify, so a
    serializer is cheap to build; the saving is the work around it.)
    """

    async def open_session(
        self, app: Quart, request: BaseRequestWebsocket
    ) -> SecureCookieSession | None:
        if self.get_cookie_name(app) not in request.cookies:  # a dict lookup, no KeyError
            return self.session_class()
        return await super().open_session(app, request)

    def get_cookie_secure(self, app: Quart) -> bool:
        return cookies_secure()


def create_app(
    overrides: Mapping[str, str] | None = None,
    *,
    testing: bool = False,
    workers: int = 1,
    send_mail: bool = True,
) -> Quart:
    """Build the app.

    Arguments:
        overrides: environment variables (SPEC §4) that win over ``os.environ``.
        testing: a test app (exceptions propagate to the test; no GC tuning).
        workers: how many server processes share this machine's cores (``quart-blog serve``
            passes its ``--workers``); sizes the password-hashing pool.
        send_mail: run the background mail sender while serving (off for one-off
            commands; queued messages then wait for a serving process).
    """
    try:
        settings = Settings.from_env(overrides=overrides)
    except ConfigError as error:
        if overrides is not None:
            raise
        # Started by a server (``hypercorn "quart_blog:create_app()"``): one line, no traceback.
        raise SystemExit(f"quart-blog: configuration error: {error}") from None
    app = Quart(__name__, template_folder=str(resource_dir("templates")), static_folder="static")
    config.init_app(app, settings)
    configure_quart(app, settings, testing=testing)
    app.request_class = BlogRequest
    app.session_interface = BlogSessionInterface()
    app.url_map.converters["id"] = IdConverter

    db.init_app(app)
    session_cookie.init_app(app)
    passwords.init_app(app, workers=workers)
    limits.init_app(app)
    mail.init_app(app, send=send_mail)
    recovery.init_app(app)
    event_retention.init_app(app)

    app.before_request(protect_state_changes)
    app.after_request(add_security_headers)
    app.context_processor(template_globals)
    errors.register_handlers(app)
    for blueprint in (
        home.bp,
        account_auth_pages.bp,
        post_pages.bp,
        account_pages.bp,
        recovery_pages.bp,
        event_pages.bp,
        account_data_pages.bp,
        passkey_pages.bp,
        mfa_pages.bp,
        token_pages.bp,
        health.bp,
    ):
        app.register_blueprint(blueprint)
    api_v1.init_app(app)

    if not testing:
        # Last, so it runs once every other start-up hook has built what it keeps.
        app.before_serving(to_async(gc_tuning.tune_for_serving))
        app.before_serving(to_async(banner.one_banner_per_worker))
    if not settings.rate_limits:
        app.logger.warning("RATE_LIMITS=off: brute-force limits are disabled (benchmarks only)")
    app.asgi_app = RunToCompletion(app.asgi_app)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        app.asgi_app = ProxyFixMiddleware(  # type: ignore[method-assign]
            app.asgi_app, mode="legacy", trusted_hops=settings.trusted_proxies
        )
    return app


def configure_quart(app: Quart, settings: Settings, *, testing: bool) -> None:
    """Set Quart's own config keys (our code reads ``get_settings()`` instead)."""
    app.config.update(
        TESTING=testing,
        PROPAGATE_EXCEPTIONS=False,
        SECRET_KEY=settings.secret_keys[0],
        SECRET_KEY_FALLBACKS=list(settings.secret_keys[1:]),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
        BODY_TIMEOUT=30,
        SESSION_COOKIE_NAME="quart_blog_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )


def to_async(function: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    """Wrap a plain callable as a serving hook."""

    async def hook() -> None:
        function()

    return hook


async def protect_state_changes() -> Response | None:
    """CSRF checks for every state-changing request (SPEC §8), before any view runs.

    An API request with an ``Authorization`` header carries no cookie-borne credential,
    so it meets the token policy instead (SPEC §14): where a token may go, and its scope.
    """
    if bearer.presented() is not None:
        return await token_policy.enforce()
    if request.method in csrf.SAFE_METHODS:
        return None
    if request.path.startswith("/api/"):
        csrf.check_api_origin()
    else:
        await csrf.check_form_token()
    return None


async def template_globals() -> dict[str, Any]:
    """What every page needs: who is logged in, the CSRF token, flashed messages."""
    active = await request_user().resolve()
    return {
        "current_username": None if active is None else active.username,
        "csrf_token": await csrf.generate_token(),
        "flashes": get_flashed_messages(with_categories=True),
    }
