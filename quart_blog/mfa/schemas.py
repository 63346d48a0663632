"""Request and response models of the second-factor API (validation and the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from quart_blog.validation import StrictModel

# Room for a recovery code typed with spaces; anything longer is not a code.
CODE_MAX = 64


class CodeIn(StrictModel):
    """A TOTP code (six digits) or, where the step allows it, a recovery code."""

    code: str = Field(max_length=CODE_MAX)


class StatusOut(BaseModel):
    """Which second factors the account has."""

    totp: bool
    recovery_codes_left: int
    passkeys: int


class EnrolmentOut(BaseModel):
    """A pending TOTP enrolment: type the secret or open the URI in an authenticator app."""

    secret: str
    otpauth_uri: str


class RecoveryCodesOut(BaseModel):
    """Ten single-use recovery codes, shown this once."""

    recovery_codes: list[str]
