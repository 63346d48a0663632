"""The recovery API (SPEC §11): change and verify the address, forgot and reset password."""

from __future__ import annotations

from quart import Blueprint
from quart.typing import ResponseReturnValue
from quart_auth import login_required
from quart_schema import document_response, operation_id, validate_request

from quart_blog.errors import BAD_REQUEST, CONFLICT, VALIDATION_ERROR, APIError, ErrorOut
from quart_blog.openapi import NoContent
from quart_blog.recovery import service
from quart_blog.recovery.schemas import EmailChangeIn, ForgotIn, MessageOut, ResetIn, TokenIn
from quart_blog.serving.responses import json_response, no_content
from quart_blog.validation import clean_email, text_problem

bp = Blueprint("recovery", __name__)

UNUSABLE_LINK_CODE = "invalid_token"
FORGOT_ACCEPTED = (
    "If that address is the confirmed address of an account, a link to reset its password "
    "is on its way."
)
UNUSABLE_LINK = "The token is not valid: used, replaced by a newer one, or expired."


def valid_email(email: str) -> str:
    """The address in normal form, or a 422 saying what is wrong with it."""
    cleaned, problem = clean_email(email)
    if problem is not None:
        raise APIError(422, VALIDATION_ERROR, problem)
    return cleaned


@bp.put("/me/email")
@login_required
@validate_request(EmailChangeIn)
@operation_id("changeEmail")
@document_response(MessageOut, 202)
@document_response(ErrorOut, 409)
@document_response(ErrorOut, 429)  # counted as a login attempt
@document_response(ErrorOut, 503)
async def change_email(data: EmailChangeIn) -> ResponseReturnValue:
    """Mail a verification link to the new address; it replaces the old one once verified."""
    email = valid_email(data.email)
    try:
        await service.change_email(email, data.current_password)
    except service.WrongPassword:
        raise APIError(400, BAD_REQUEST, "The current password is wrong.") from None
    except service.EmailTaken:
        raise APIError(409, CONFLICT, "That e-mail address belongs to another account.") from None
    return json_response({"message": f"A verification link was sent to {email}."}, 202)


@bp.post("/email/verify")
@validate_request(TokenIn)
@operation_id("verifyEmail")
@document_response(NoContent, 204)
async def verify_email(data: TokenIn) -> ResponseReturnValue:
    """Use a verification token."""
    if not await service.verify_email(data.token):
        raise APIError(400, UNUSABLE_LINK_CODE, UNUSABLE_LINK)
    return no_content()


@bp.post("/password/forgot")
@validate_request(ForgotIn)
@operation_id("forgotPassword")
@document_response(MessageOut, 202)
@document_response(ErrorOut, 429)  # per client and per target address
async def forgot_password(data: ForgotIn) -> ResponseReturnValue:
    """Queue a reset link: 202 whether or not an account has the address."""
    email, problem = clean_email(data.email)
    if problem is None:
        await service.request_password_reset(email)
    return json_response({"message": FORGOT_ACCEPTED}, 202)


@bp.post("/password/reset")
@validate_request(ResetIn)
@operation_id("resetPassword")
@document_response(NoContent, 204)
@document_response(ErrorOut, 503)
async def reset_password(data: ResetIn) -> ResponseReturnValue:
    """Use a reset token: new password, every session of the user revoked."""
    problem = text_problem("New password", data.new_password)
    if problem is not None:
        raise APIError(422, VALIDATION_ERROR, problem)
    if not await service.reset_password(data.token, data.new_password):
        raise APIError(400, UNUSABLE_LINK_CODE, UNUSABLE_LINK)
    return no_content()
