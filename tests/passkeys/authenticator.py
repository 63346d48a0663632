"""A software WebAuthn authenticator and client, for tests that need no browser.

It answers the server's options as a browser and a platform authenticator would: ES256
keys, "none" attestation, a discoverable credential holding the user handle, and the
clientDataJSON a browser writes for ``origin``. Every field a test may want to falsify
(origin, rp id, user verification, signature counter, signature) is a parameter.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40
COSE_EC2, COSE_ES256, COSE_P256 = 2, -7, 1


def b64url(data: bytes) -> str:
    """Unpadded base64url, as WebAuthn's JSON forms write bytes."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Bytes from unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    """One discoverable credential the authenticator holds."""

    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    """A platform authenticator plus the browser in front of it, for ``origin``.

    ``counting``: whether its signature counter goes up (some authenticators always send 0).
    """

    origin: str
    counting: bool = True
    credentials: list[Credential] = field(default_factory=list)

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
        credential_id: bytes | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> dict[str, Any]:
        """Answer creation options with a new credential (``credential.toJSON()``)."""
        rp = rp_id or options["rp"]["id"]
        credential = Credential(
            credential_id=credential_id or os.urandom(16),
            key=key or ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp,
            user_handle=unb64url(options["user"]["id"]),
        )
        self.credentials.append(credential)
        client_data = self.client_data("webauthn.create", options["challenge"], origin)
        flags = FLAG_UP | FLAG_AT | (FLAG_UV if user_verified else 0)
        attested = (
            bytes(16)  # AAGUID: none
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + cose_key(credential.key)
        )
        auth_data = rp_hash(rp) + bytes([flags]) + struct.pack(">I", 0) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential: Credential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
        tamper_signature: bool = False,
    ) -> dict[str, Any]:
        """Answer request options with an assertion (``credential.toJSON()``).

        Without ``credential``: the newest one for the options' rp id, as a person picking
        the passkey they just made.
        """
        chosen = credential or self.for_rp(options["rpId"])
        if sign_count is None:
            if self.counting:
                chosen.sign_count += 1
            sign_count = chosen.sign_count
        client_data = self.client_data("webauthn.get", options["challenge"], origin)
        flags = FLAG_UP | (FLAG_UV if user_verified else 0)
        auth_data = rp_hash(rp_id or chosen.rp_id) + bytes([flags]) + struct.pack(">I", sign_count)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = chosen.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if tamper_signature:
            signature = chosen.key.sign(signed + b"!", ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(chosen.credential_id),
            "rawId": b64url(chosen.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(user_handle or chosen.user_handle),
            },
        }

    def for_rp(self, rp_id: str) -> Credential:
        """The newest credential made for ``rp_id``."""
        matching = [c for c in self.credentials if c.rp_id == rp_id]
        assert matching, f"no credential for {rp_id}"
        return matching[-1]

    def client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        """clientDataJSON as a browser serialises it."""
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}, separators=(",", ":")).encode()


def rp_hash(rp_id: str) -> bytes:
    """SHA-256 of the relying-party id, as authenticator data begins."""
    return hashlib.sha256(rp_id.encode()).digest()


def cose_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The public half of an ES256 key as a COSE_Key."""
    numbers = key.public_key().public_numbers()
    return cbor2.dumps(
        {
            1: COSE_EC2,
            3: COSE_ES256,
            -1: COSE_P256,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
    )
