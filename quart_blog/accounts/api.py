"""The accounts API: register, log in, log out, who am I, change password."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart.typing import ResponseReturnValue
from quart_auth import login_required
from quart_rate_limiter import rate_limit
from quart_schema import document_response, operation_id, validate_request

from quart_blog.accounts import auth
from quart_blog.accounts.models import User
from quart_blog.accounts.queries import select_user
from quart_blog.accounts.schemas import (
    LoginIn,
    MeOut,
    PasswordIn,
    ReauthIn,
    RegisterIn,
    UserOut,
)
from quart_blog.accounts.sessions import current_session
from quart_blog.db import get_session
from quart_blog.errors import (
    BAD_REQUEST,
    CONFLICT,
    INVALID_CREDENTIALS,
    UNAUTHORIZED,
    VALIDATION_ERROR,
    APIError,
    ErrorOut,
)
from quart_blog.mfa import api as mfa_api
from quart_blog.mfa import service as mfa
from quart_blog.openapi import NoContent
from quart_blog.recovery.service import EmailTaken
from quart_blog.security.headers import clear_site_data_on_logout
from quart_blog.security.limits import LOGIN_PER_ADDRESS, REGISTER_PER_ADDRESS
from quart_blog.serving.responses import json_response, no_content
from quart_blog.validation import clean_email

bp = Blueprint("auth", __name__)

BAD_CREDENTIALS = "Wrong username or password."


def user_json(user_id: int, username: str) -> dict[str, Any]:
    """``{"id", "username"}`` (SPEC §6)."""
    return {"id": user_id, "username": username}


def user_row_json(user: User) -> dict[str, Any]:
    """``{"id", "username"}`` of a user row."""
    return user_json(user.id, user.username)


@bp.post("/register")
@rate_limit(limits=[REGISTER_PER_ADDRESS])
@validate_request(RegisterIn)
@operation_id("register")
@document_response(UserOut, 201)
@document_response(ErrorOut, 409)
@document_response(ErrorOut, 503)
async def register(data: RegisterIn) -> ResponseReturnValue:
    """Create an account; an ``email`` given gets its verification link at once."""
    email = None
    if data.email is not None:
        email, problem = clean_email(data.email)
        if problem is not None:
            raise APIError(422, VALIDATION_ERROR, problem)
    try:
        user = await auth.register(data.username, data.password, email)
    except auth.UsernameTaken:
        raise APIError(409, CONFLICT, "That username is taken.") from None
    except EmailTaken:
        raise APIError(409, CONFLICT, "That e-mail address belongs to another account.") from None
    return json_response(user_row_json(user), 201)


@bp.post("/login")
@rate_limit(limits=[LOGIN_PER_ADDRESS])
@validate_request(LoginIn)
@operation_id("logIn")
@document_response(UserOut, 200)
@document_response(ErrorOut, 401)
@document_response(ErrorOut, 503)
async def login(data: LoginIn) -> ResponseReturnValue:
    """Log in; sets the auth cookie (30 days with ``remember``, else a browser session)."""
    user = await auth.attempt_login(data.username, data.password)
    if user is None:
        raise APIError(401, UNAUTHORIZED, BAD_CREDENTIALS)
    if await mfa.totp_enabled(user.id):
        # No session yet: POST /api/v1/login/2fa with a code finishes this login (SPEC §12).
        await mfa.start_pending_login(user, remember=data.remember)
        raise mfa_api.mfa_required()
    await auth.log_in(user, remember=data.remember)
    return json_response(user_row_json(user))


@bp.post("/logout")
@login_required
@operation_id("logOut")
@document_response(NoContent, 204)
async def logout() -> ResponseReturnValue:
    """End this session server-side and clear the cookie."""
    await auth.log_out()
    return clear_site_data_on_logout(no_content())


@bp.get("/me")
@login_required
@operation_id("getMe")
@document_response(MeOut, 200)
async def me() -> ResponseReturnValue:
    """The logged-in user, with the address (verified or not) the account has now."""
    active = await current_session()
    user = await select_user(get_session(), active.user_id)
    email = None if user is None else user.email
    verified = user is not None and user.email_verified_at is not None
    return json_response(
        {**user_json(active.user_id, active.username), "email": email, "email_verified": verified}
    )


@bp.post("/password")
@login_required
@validate_request(PasswordIn)
@operation_id("changePassword")
@document_response(NoContent, 204)
@document_response(ErrorOut, 429)  # counted as a login attempt
@document_response(ErrorOut, 503)
async def change_password(data: PasswordIn) -> ResponseReturnValue:
    """Change the password; every other session of the user is revoked."""
    if not await auth.change_password(data.current_password, data.new_password):
        raise APIError(400, BAD_REQUEST, "The current password is wrong.")
    return no_content()


@bp.post("/reauth")
@login_required
@validate_request(ReauthIn)
@operation_id("reauthenticate")
@document_response(NoContent, 204)
@document_response(ErrorOut, 401)
@document_response(ErrorOut, 429)  # counted as a login attempt
@document_response(ErrorOut, 503)
async def reauth(data: ReauthIn) -> ResponseReturnValue:
    """Confirm it is you (SPEC §13): sensitive actions are then allowed for ``REAUTH_SECONDS``."""
    if data.password is not None:
        proved = await auth.reauthenticate_with_password(data.password)
    else:
        proved = data.code is not None and await auth.reauthenticate_with_code(data.code)
    if not proved:
        raise APIError(401, INVALID_CREDENTIALS, "That password (or code) is not right.")
    return no_content()
