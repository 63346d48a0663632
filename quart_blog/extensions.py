"""Unbound extension instances, bound to an app by ``create_app``."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer
from quart import Quart, Response, current_app, request
from quart_auth import Action, QuartAuth
from quart_schema import QuartSchema

from quart_blog.security.tokens import REMEMBER_LIFETIME, SessionUser

SERIALIZER_KEY = "quart_blog.auth_serializer"


class BlogAuth(QuartAuth):
    """Quart-Auth whose cookie is ``Secure`` exactly when the request came over HTTPS.

    Quart-Auth decides ``Secure`` once, from config; behind plain HTTP on
    127.0.0.1 that either breaks logins or drops the flag everywhere.
    ``SESSION_COOKIE_SECURE`` still forces it either way.
    """

    user_class = SessionUser

    def __init__(self) -> None:
        super().__init__(
            cookie_name="quart_blog_auth",
            cookie_samesite="Lax",
            cookie_http_only=True,
            duration=int(REMEMBER_LIFETIME.total_seconds()),
            mode="cookie",
            salt="quart-blog auth cookie",
        )

    def serializer_for(self, app: Quart) -> URLSafeTimedSerializer:
        """The app's cookie serializer, built once: the first key signs, every key verifies.

        Quart-Auth builds a serializer (and derives its key) on every request.
        """
        serializer: URLSafeTimedSerializer | None = app.extensions.get(SERIALIZER_KEY)
        if serializer is None:
            keys = [*app.config["SECRET_KEY_FALLBACKS"], app.config["SECRET_KEY"]]
            serializer = app.extensions[SERIALIZER_KEY] = self.serializer_class(
                keys, str(self.salt)
            )
        return serializer

    def dump_token(self, auth_id: str, app: Quart | None = None) -> str:
        return str(self.serializer_for(app or current_app).dumps(auth_id))

    def load_token(self, token: str, app: Quart | None = None) -> str | None:
        serializer = self.serializer_for(app or current_app)
        try:
            auth_id = serializer.loads(token, max_age=self.duration)
        except BadSignature:  # also SignatureExpired
            return None
        return auth_id if isinstance(auth_id, str) else None

    def cookie_is_secure(self) -> bool:
        """The Secure flag for this request's cookie."""
        # Read from the app, not from this shared instance: init_app copies config
        # onto the instance only once, but each app has its own setting.
        forced = current_app.config.get("QUART_AUTH_COOKIE_SECURE")
        return request.is_secure if forced is None else bool(forced)

    async def after_request(self, response: Response) -> Response:
        user = self.load_user()
        if user.action == Action.DELETE:
            response.delete_cookie(
                str(self.cookie_name),
                domain=self.cookie_domain,
                httponly=bool(self.cookie_http_only),
                path=self.cookie_path,
                secure=self.cookie_is_secure(),
                samesite=self.cookie_samesite,
            )
        elif user.action in {Action.WRITE, Action.WRITE_PERMANENT} and user.auth_id is not None:
            remember = user.action == Action.WRITE_PERMANENT
            response.set_cookie(
                str(self.cookie_name),
                self.dump_token(user.auth_id),
                domain=self.cookie_domain,
                max_age=self.duration if remember else None,
                httponly=bool(self.cookie_http_only),
                path=self.cookie_path,
                secure=self.cookie_is_secure(),
                samesite=self.cookie_samesite,
            )
        return response


auth = BlogAuth()
schema = QuartSchema(
    openapi_path="/openapi.json",
    swagger_ui_path=None,
    redoc_ui_path=None,
    scalar_ui_path=None,
    info={"title": "quart-blog API", "version": "1"},
)
