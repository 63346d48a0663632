"""This site as a WebAuthn relying party: py_webauthn's options and checks, and nothing else.

The relying-party id is ``PUBLIC_URL``'s host and the one accepted origin is that URL's
origin (SPEC §4, §12), never the request's ``Host``. Every ceremony requires user
verification, so a passkey proves possession and a PIN or biometric: both factors.

Verification is a hash and one signature check on a key we stored, well under a
millisecond, so it runs on the event loop; nothing here waits or touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from quart_blog.config import get_settings

RP_NAME = "quart-blog"
# What the browser is told to give the person; shorter than a challenge lives (2 minutes),
# so a prompt never outlasts the challenge it answers.
TIMEOUT_MS = 100_000
CREDENTIAL_ID_MAX = 1023  # WebAuthn §7.1 step 25: longer ids are refused
DEFAULT_PORTS = {"http": 80, "https": 443}


class CeremonyFailed(Exception):
    """The browser's response does not verify (malformed, wrong origin, rp, challenge, key…)."""


class SignCountWentBack(CeremonyFailed):
    """A signature counter at or below the one last seen: maybe a cloned authenticator."""

    def __init__(self, stored: int, received: int) -> None:
        super().__init__(f"signature count {received} is not above the stored {stored}")
        self.stored = stored
        self.received = received


@dataclass(frozen=True)
class KnownCredential:
    """A registered credential as the options name it: its id and how it is reached."""

    credential_id: bytes
    transports: str  # comma-separated, as stored


@dataclass(frozen=True)
class NewCredential:
    """A verified registration: what to store."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: str


@dataclass(frozen=True)
class Assertion:
    """A parsed (not yet verified) sign-in response: which credential, for which user."""

    credential_id: bytes
    user_handle: bytes | None
    parsed: AuthenticationCredential


def rp_id() -> str:
    """The relying-party id: ``PUBLIC_URL``'s host."""
    host = urlsplit(get_settings().public_url).hostname
    assert host, "PUBLIC_URL is checked at start-up"
    return host


def expected_origin() -> str:
    """``PUBLIC_URL``'s origin as a browser writes it in clientDataJSON.

    A browser leaves out a scheme's default port and lower-cases the host, so
    ``http://Example.org:80`` is ``http://example.org``.
    """
    parts = urlsplit(get_settings().public_url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = "" if parts.port in (None, DEFAULT_PORTS[parts.scheme]) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"


def user_handle(user_id: int) -> bytes:
    """The WebAuthn user handle of an account: stable, and no personal data in it."""
    return str(user_id).encode()


def descriptors(credentials: list[KnownCredential]) -> list[PublicKeyCredentialDescriptor]:
    """Credentials as the options list them (to exclude, or to allow)."""
    known = {transport.value for transport in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=credential.credential_id,
            transports=[
                AuthenticatorTransport(name)
                for name in credential.transports.split(",")
                if name in known
            ],
        )
        for credential in credentials
    ]


def creation_options(
    *, challenge: bytes, user_id: int, username: str, existing: list[KnownCredential]
) -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptions`` as JSON: a discoverable, user-verified passkey.

    The user's existing credentials are excluded, so one authenticator is not added twice.
    """
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=RP_NAME,
        user_id=user_handle(user_id),
        user_name=username,
        user_display_name=username,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=descriptors(existing),
    )
    return options_to_json_dict(options)


def request_options(*, challenge: bytes, allowed: list[KnownCredential]) -> dict[str, Any]:
    """``PublicKeyCredentialRequestOptions`` as JSON, user verification required.

    With no ``allowed`` credentials the browser offers every passkey it has for this
    site: the one chosen names its user (a discoverable credential).
    """
    options = generate_authentication_options(
        rp_id=rp_id(),
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=descriptors(allowed),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json_dict(options)


def verify_new_credential(credential: dict[str, Any], *, challenge: bytes) -> NewCredential:
    """Check a ``navigator.credentials.create()`` response; raise ``CeremonyFailed`` if bad."""
    try:
        parsed = parse_registration_credential_json(credential)
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            require_user_verification=True,
        )
    except Exception as error:
        # Every byte of it is the client's: whatever a parser trips on is a refusal, not a 500.
        raise CeremonyFailed(describe(error)) from error
    if len(verified.credential_id) > CREDENTIAL_ID_MAX:
        raise CeremonyFailed("credential id too long")
    transports = ",".join(t.value for t in parsed.response.transports or [])
    return NewCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=transports[:200],
    )


def parse_assertion(credential: dict[str, Any]) -> Assertion:
    """Read which credential a ``navigator.credentials.get()`` response claims to be from."""
    try:
        parsed = parse_authentication_credential_json(credential)
    except Exception as error:  # the client's bytes, as above
        raise CeremonyFailed(describe(error)) from error
    return Assertion(parsed.raw_id, parsed.response.user_handle, parsed)


def verify_assertion(
    assertion: Assertion, *, challenge: bytes, public_key: bytes, stored_count: int
) -> int:
    """Check a sign-in response against the stored key; return the new signature count.

    Raises ``CeremonyFailed``, or ``SignCountWentBack`` for a count that did not go up.
    Authenticators that do not count send 0 every time, which is fine while we have 0.
    """
    try:
        verified = verify_authentication_response(
            credential=assertion.parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            credential_public_key=public_key,
            # 0 turns py_webauthn's own count check off: ours below runs only once the
            # signature is good, so a forged response cannot raise a clone warning.
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except Exception as error:  # the client's bytes, as above
        raise CeremonyFailed(describe(error)) from error
    received = verified.new_sign_count
    if (received > 0 or stored_count > 0) and received <= stored_count:
        raise SignCountWentBack(stored_count, received)
    return received


def describe(error: Exception) -> str:
    """One line on why a response was refused (for the log, never for the client)."""
    # Parts of it may come from the client: one line, so it cannot forge log entries.
    return " ".join((str(error) or type(error).__name__).split())[:200]
