"""TOTP (RFC 6238) codes, with each secret encrypted at rest under a key from SECRET_KEY.

SHA-1, 6 digits, 30-second steps, one step of drift either way (SPEC §12). passlib's
app-secret wallet encrypts the secrets: every entry of ``SECRET_KEY`` yields one tagged
wallet key, the first encrypts and all decrypt, so rotating SECRET_KEY ("new,old") keeps
every enrolled authenticator working. Time always comes from ``quart_blog.clock``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from functools import lru_cache
from typing import Any, NamedTuple

import segno
from passlib.totp import TOTP, TokenError

from quart_blog import clock
from quart_blog.config import get_settings

ISSUER = "quart-blog"
DIGITS = 6
PERIOD = 30
# passlib searches this many seconds before and after now: exactly one step either way.
DRIFT_SECONDS = PERIOD
# log2 of the PBKDF2 rounds per encryption. The wallet keys are 256-bit HMAC outputs, not
# passwords, so stretching adds nothing but event-loop time on every login.
ENCRYPT_COST = 8
# Domain separation: the wallet key is not SECRET_KEY itself, nor any other key made from it.
WALLET_KEY_PURPOSE = b"quart-blog mfa totp secret encryption v1"


class Matched(NamedTuple):
    """An accepted code: its time step, and the stored secret to write back if it changed."""

    counter: int
    reencrypted: str | None


def wallet_entry(secret_key: str) -> tuple[str, bytes]:
    """The wallet tag and key derived from one SECRET_KEY entry (the tag names the key)."""
    key = hmac.new(secret_key.encode(), WALLET_KEY_PURPOSE, hashlib.sha256).digest()
    return "k" + hashlib.sha256(key).hexdigest()[:16], key


@lru_cache(maxsize=8)
def factory_for(secret_keys: tuple[str, ...]) -> Any:
    """A TOTP class bound to the wallet of these keys (the first one encrypts)."""
    entries = [wallet_entry(key) for key in secret_keys]
    return TOTP.using(
        digits=DIGITS,
        alg="sha1",
        period=PERIOD,
        issuer=ISSUER,
        secrets=dict(entries),
        default_tag=entries[0][0],
        encrypt_cost=ENCRYPT_COST,
    )


def factory() -> Any:
    """The TOTP class for the running app's SECRET_KEY."""
    return factory_for(get_settings().secret_keys)


def new_secret() -> Any:
    """A fresh random TOTP secret (160 bits, as RFC 4226 recommends)."""
    return factory().new()


def seal(totp: Any) -> str:
    """The secret as stored: passlib's JSON with the key encrypted under the current key."""
    sealed: str = totp.to_json(encrypt=True)
    return sealed


def unseal(stored: str) -> Any:
    """The TOTP object for a stored secret (decrypted with whichever key sealed it)."""
    return factory().from_json(stored)


def secret_text(totp: Any) -> str:
    """The base32 secret, in groups of four, for typing into an authenticator by hand."""
    text: str = totp.pretty_key(format="base32", sep=" ")
    return text


def plain_secret(totp: Any) -> str:
    """The base32 secret without separators (what the otpauth URI carries)."""
    text: str = totp.base32_key
    return text


def otpauth_uri(totp: Any, username: str) -> str:
    """The ``otpauth://totp/…`` URI an authenticator app scans."""
    uri: str = totp.to_uri(label=username, issuer=ISSUER)
    return uri


def qr_data_uri(uri: str) -> str:
    """The URI as a QR code: an SVG in a ``data:`` URL (the CSP allows data: images)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=5, dark="#000", light="#fff", xmldecl=False, title="QR code"
    )
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def match(stored: str, code: str, *, last_counter: int) -> Matched | None:
    """The time step ``code`` belongs to, if it is right now (±1 step) and newer than
    ``last_counter``; None for a wrong, malformed, stale or already used code."""
    try:
        totp = unseal(stored)
        found = totp.match(
            code, time=clock.timestamp(), window=DRIFT_SECONDS, last_counter=last_counter
        )
    except (TokenError, ValueError, TypeError, KeyError):
        # KeyError: sealed under a key no longer in SECRET_KEY; the secret is unusable.
        return None
    # After a key rotation the stored secret is re-sealed under the new first key.
    return Matched(int(found.counter), seal(totp) if totp.changed else None)
