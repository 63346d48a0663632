"""Request and response models of the passkey API (validation and the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from quart_blog.validation import StrictModel

NAME_MAX = 64
CREDENTIAL_DESCRIPTION = (
    "The browser's PublicKeyCredential as JSON (`credential.toJSON()`): `id`, `rawId`, "
    "`type` and `response`, binary values base64url-encoded."
)


class PasskeyIn(StrictModel):
    name: str = Field(max_length=NAME_MAX * 4, description="1-64 characters after trimming.")
    credential: dict[str, Any] = Field(description=CREDENTIAL_DESCRIPTION)


class CredentialIn(StrictModel):
    credential: dict[str, Any] = Field(description=CREDENTIAL_DESCRIPTION)


class PasskeyOut(BaseModel):
    """A passkey just added."""

    id: int
    name: str
    created_at: datetime


class PasskeyItem(BaseModel):
    """A passkey of the account; ``last_used_at`` is null until it first signs in."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


class PasskeysOut(BaseModel):
    """The account's passkeys, in the order they were added."""

    items: list[PasskeyItem]


class CreationOptionsOut(BaseModel):
    """``PublicKeyCredentialCreationOptions`` for ``navigator.credentials.create()``.

    Binary values (``challenge``, ``user.id``, excluded ids) are base64url strings.
    """

    model_config = ConfigDict(extra="allow")

    rp: dict[str, str]
    user: dict[str, str]
    challenge: str


class RequestOptionsOut(BaseModel):
    """``PublicKeyCredentialRequestOptions`` for ``navigator.credentials.get()``.

    ``challenge`` and allowed credential ids are base64url strings.
    """

    model_config = ConfigDict(extra="allow")

    challenge: str
    rpId: str  # the WebAuthn member's own name
