"""Every table of the app, so that ``Base.metadata`` knows them all (Alembic, tests).

Each feature keeps its own models; importing this module loads them together.
"""

from quart_blog.accounts.models import AuthSession, User
from quart_blog.db import Base
from quart_blog.events.models import AuthEvent
from quart_blog.mail.models import OutboxMessage
from quart_blog.mfa.models import PendingLogin, RecoveryCode, TotpCredential
from quart_blog.passkeys.models import Passkey, WebAuthnChallenge
from quart_blog.posts.models import Post
from quart_blog.recovery.models import OneTimeToken
from quart_blog.security.limit_stores import RateLimitEntry
from quart_blog.tokens.models import ApiToken

metadata = Base.metadata

__all__ = [
    "ApiToken",
    "AuthEvent",
    "AuthSession",
    "Base",
    "OneTimeToken",
    "OutboxMessage",
    "Passkey",
    "PendingLogin",
    "Post",
    "RateLimitEntry",
    "RecoveryCode",
    "TotpCredential",
    "User",
    "WebAuthnChallenge",
    "metadata",
]
