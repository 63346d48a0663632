"""The second-factor API (SPEC §12): TOTP enrolment, recovery codes, the login's code step."""

from __future__ import annotations

from quart import Blueprint
from quart.typing import ResponseReturnValue
from quart_auth import login_required
from quart_rate_limiter import rate_limit
from quart_schema import document_response, operation_id, validate_request

from quart_blog.accounts import auth
from quart_blog.accounts.reauth import recent_auth_required
from quart_blog.accounts.schemas import UserOut
from quart_blog.accounts.sessions import current_session
from quart_blog.errors import CONFLICT, APIError, ErrorOut
from quart_blog.mfa import service
from quart_blog.mfa.schemas import CodeIn, EnrolmentOut, RecoveryCodesOut, StatusOut
from quart_blog.openapi import NoContent
from quart_blog.security.limits import LOGIN_PER_ADDRESS
from quart_blog.serving.responses import json_response, no_content

bp = Blueprint("mfa", __name__)

MFA_REQUIRED = "mfa_required"
MFA_REQUIRED_MESSAGE = (
    "The password is right; now send a code from your authenticator app (or a recovery "
    "code) to POST /api/v1/login/2fa within 5 minutes."
)
INVALID_CODE = "invalid_code"
INVALID_CODE_MESSAGE = "That code is not right, or it was used already."
MFA_EXPIRED = "mfa_expired"
MFA_EXPIRED_MESSAGE = "This login has lapsed or had too many wrong codes: log in again."
BACK_TO = "mfa.index"


def mfa_required() -> APIError:
    """The answer to a right password when a second factor is due (401 ``mfa_required``)."""
    return APIError(401, MFA_REQUIRED, MFA_REQUIRED_MESSAGE)


@bp.get("/me/2fa")
@login_required
@operation_id("getSecondFactors")
@document_response(StatusOut, 200)
async def get_status() -> ResponseReturnValue:
    """Whether TOTP is on, how many recovery codes are left, how many passkeys there are."""
    active = await current_session()
    return json_response((await service.status(active.user_id))._asdict())


@bp.post("/me/2fa/totp")
@login_required
@recent_auth_required(back_to=BACK_TO)
@operation_id("startTotpEnrolment")
@document_response(EnrolmentOut, 200)
@document_response(ErrorOut, 403)
@document_response(ErrorOut, 409)
async def start_totp() -> ResponseReturnValue:
    """Start a TOTP enrolment: a new secret, on only once confirmed with a code."""
    active = await current_session()
    try:
        enrolment = await service.start_enrolment(active.user_id, active.username)
    except service.AlreadyEnabled:
        raise APIError(409, CONFLICT, "TOTP is on already: turn it off first.") from None
    return json_response({"secret": enrolment.secret, "otpauth_uri": enrolment.otpauth_uri})


@bp.post("/me/2fa/totp/confirm")
@login_required
@recent_auth_required(back_to=BACK_TO)
@validate_request(CodeIn)
@operation_id("confirmTotpEnrolment")
@document_response(RecoveryCodesOut, 200)
@document_response(ErrorOut, 403)
@document_response(ErrorOut, 503)
async def confirm_totp(data: CodeIn) -> ResponseReturnValue:
    """Switch TOTP on with a first code from the app; answers the 10 recovery codes, once."""
    active = await current_session()
    fresh = await service.confirm_enrolment(active.user_id, data.code)
    if fresh is None:
        raise APIError(400, INVALID_CODE, "That code is not right (or no enrolment was started).")
    return json_response({"recovery_codes": fresh})


@bp.delete("/me/2fa/totp")
@login_required
@recent_auth_required(back_to=BACK_TO)
@operation_id("disableTotp")
@document_response(NoContent, 204)
@document_response(ErrorOut, 403)
@document_response(ErrorOut, 503)
async def disable_totp() -> ResponseReturnValue:
    """Turn TOTP off; the recovery codes go with it and a notice is mailed."""
    active = await current_session()
    await service.disable_totp(active.user_id)
    return no_content()


@bp.post("/me/2fa/recovery-codes")
@login_required
@recent_auth_required(back_to=BACK_TO)
@operation_id("regenerateRecoveryCodes")
@document_response(RecoveryCodesOut, 200)
@document_response(ErrorOut, 403)
@document_response(ErrorOut, 409)
@document_response(ErrorOut, 503)
async def regenerate_codes() -> ResponseReturnValue:
    """Ten new recovery codes, shown once; the old ones stop working."""
    active = await current_session()
    try:
        fresh = await service.regenerate_recovery_codes(active.user_id)
    except service.NotEnabled:
        raise APIError(409, CONFLICT, "Recovery codes come with TOTP: turn it on first.") from None
    return json_response({"recovery_codes": fresh})


@bp.post("/login/2fa")
@rate_limit(limits=[LOGIN_PER_ADDRESS])
@validate_request(CodeIn)
@operation_id("logInSecondFactor")
@document_response(UserOut, 200)
@document_response(ErrorOut, 401)
@document_response(ErrorOut, 503)
async def login_second_factor(data: CodeIn) -> ResponseReturnValue:
    """Finish a login whose password step answered ``mfa_required``: sets the auth cookie.

    Only the client that passed the password step can finish it, within 5 minutes; a wrong
    or used code is 401 ``invalid_code``, the fifth one (or a lapsed login) 401
    ``mfa_expired``: log in again.
    """
    try:
        user, remember = await service.finish_pending_login(data.code)
    except service.InvalidCode:
        raise APIError(401, INVALID_CODE, INVALID_CODE_MESSAGE) from None
    except service.LoginExpired:
        raise APIError(401, MFA_EXPIRED, MFA_EXPIRED_MESSAGE) from None
    await auth.log_in(user, remember=remember)
    return json_response({"id": user.id, "username": user.username})
