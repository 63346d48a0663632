"""CSRF protection for every state-changing request that rides on a cookie.

Forms carry a ``csrf_token``: an itsdangerous signature (every key of
``SECRET_KEY`` verifies, the first signs) over a digest of what the browser
already holds — the login session when logged in, else a random seed kept in
the signed Quart session. A new login session means a new token, so the token
rotates at login. JSON API calls are guarded by requiring ``application/json``
(which a cross-site form cannot send) and by Fetch Metadata / Origin checks.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from quart import request, session
from werkzeug.datastructures import MultiDict

from quart_blog.accounts.sessions import request_user
from quart_blog.config import get_settings

FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SEED_KEY = "csrf_seed"
SALT = "quart-blog csrf"


class CSRFError(Exception):
    """The request failed a CSRF check; answered with 403 and nothing changes."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def serializer() -> URLSafeSerializer:
    """Signs with the first configured key and verifies with all of them."""
    return URLSafeSerializer(get_settings().signing_keys, salt=SALT)


async def binding(create: bool) -> str | None:
    """Digest of the secret this browser holds that the token is bound to."""
    user = request_user()
    if await user.is_authenticated:
        secret = user.token_hash
    else:
        secret = session.get(SEED_KEY)
        if secret is None and create:
            secret = session[SEED_KEY] = secrets.token_urlsafe(32)
    if secret is None:
        return None
    return hashlib.sha256(f"csrf|{secret}".encode()).hexdigest()[:32]


async def generate_token() -> str:
    """The token to embed in this request's forms."""
    bound = await binding(create=True)
    return str(serializer().dumps(bound))


async def check_form_token() -> None:
    """Raise ``CSRFError`` unless the submitted form token matches this browser."""
    form = await request.form
    submitted = form.get(FORM_FIELD, "")
    expected = await binding(create=False)
    if not submitted or expected is None:
        raise CSRFError("The form is missing its security token. Reload the page and try again.")
    try:
        bound = serializer().loads(submitted)
    except BadSignature:
        raise CSRFError("The form's security token is invalid. Reload the page.") from None
    if not isinstance(bound, str) or not hmac.compare_digest(bound, expected):
        raise CSRFError("The form's security token has expired. Reload the page and try again.")


def forget_anonymous_seed() -> None:
    """Drop the pre-login seed, so a token planted before login is useless afterwards."""
    session.pop(SEED_KEY, None)


def check_api_origin() -> None:
    """Reject browser requests that come from another site (Fetch Metadata, then Origin)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise CSRFError(f"Cross-site request refused (Sec-Fetch-Site: {fetch_site}).")
    origin = request.headers.get("Origin")
    if origin is not None and origin != this_origin():
        raise CSRFError("Cross-origin request refused (Origin does not match this site).")


def this_origin() -> str:
    """``scheme://host[:port]`` of this request, as a browser would send it in ``Origin``."""
    return f"{request.scheme}://{request.host}"


# Fields a refused form carries back unseen (the link token of a reset, the login's next).
HIDDEN_FIELDS = frozenset({"token", "next"})
LONG_TEXT = 200


@dataclass(frozen=True)
class TypedField:
    """One field of a refused form, to offer again: its name, a label, how to show it."""

    name: str
    label: str
    kind: str  # "hidden", "password" (never refilled), "checkbox", "textarea" or "text"
    value: str


def typed_fields(form: MultiDict[str, str]) -> list[TypedField]:
    """What the person typed into a form that failed its CSRF check (SPEC §8).

    The page then offers the same form again, with a fresh token: nothing typed is lost,
    except passwords, which are never written back into a page.
    """
    fields = []
    for name, value in form.items(multi=True):
        if name == FORM_FIELD:
            continue
        label = name.replace("_", " ").capitalize()
        if "password" in name or name == "confirm":
            fields.append(TypedField(name, label, "password", ""))
        elif name in HIDDEN_FIELDS:
            fields.append(TypedField(name, label, "hidden", value))
        elif value == "on" and name == "remember":
            fields.append(TypedField(name, label, "checkbox", value))
        elif "\n" in value or len(value) > LONG_TEXT or name == "body":
            fields.append(TypedField(name, label, "textarea", value))
        else:
            fields.append(TypedField(name, label, "text", value))
    return fields
