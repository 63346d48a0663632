"""The passkey API (SPEC §12): add, list and remove passkeys; sign in or confirm with one.

Each ceremony is options first (the challenge rides in a cookie for this client only),
then the browser's response. Adding and removing need recent authentication (§13).
"""

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
from quart_blog.errors import (
    BAD_REQUEST,
    CONFLICT,
    INVALID_CREDENTIALS,
    NOT_FOUND,
    VALIDATION_ERROR,
    APIError,
    ErrorOut,
)
from quart_blog.openapi import NoContent
from quart_blog.passkeys import service
from quart_blog.passkeys.models import Passkey
from quart_blog.passkeys.schemas import (
    NAME_MAX,
    CreationOptionsOut,
    CredentialIn,
    PasskeyIn,
    PasskeyOut,
    PasskeysOut,
    RequestOptionsOut,
)
from quart_blog.security.limits import LOGIN_PER_ADDRESS
from quart_blog.serving.responses import json_response, no_content
from quart_blog.validation import text_problem

bp = Blueprint("passkeys", __name__, url_prefix="/passkeys")

INVALID_CREDENTIAL = "invalid_credential"
NOT_VERIFIED = (
    "The passkey could not be verified: start again from the options "
    "(the challenge works once, for two minutes)."
)


def clean_name(name: str) -> str:
    """The trimmed name, or a 422 saying what is wrong with it."""
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= NAME_MAX:
        raise APIError(
            422, VALIDATION_ERROR, f"Name must be 1-{NAME_MAX} characters (after trimming spaces)."
        )
    problem = text_problem("Name", trimmed)
    if problem is not None:
        raise APIError(422, VALIDATION_ERROR, problem)
    return trimmed


def item_json(passkey: Passkey) -> dict[str, object]:
    """One passkey as the list shows it."""
    return {
        "id": passkey.id,
        "name": passkey.name,
        "created_at": passkey.created_at,
        "last_used_at": passkey.last_used_at,
    }


@bp.post("/register/options")
@login_required
@recent_auth_required()
@operation_id("beginPasskeyRegistration")
@document_response(CreationOptionsOut, 200)
async def registration_options() -> ResponseReturnValue:
    """Creation options for ``navigator.credentials.create()`` (a two-minute challenge)."""
    return json_response(await service.registration_options())


@bp.post("")
@login_required
@recent_auth_required()
@validate_request(PasskeyIn)
@operation_id("addPasskey")
@document_response(PasskeyOut, 201)
@document_response(ErrorOut, 409)
async def add_passkey(data: PasskeyIn) -> ResponseReturnValue:
    """Add the passkey the browser just created, under a name (1-64 characters)."""
    name = clean_name(data.name)
    try:
        passkey = await service.add_passkey(name, data.credential)
    except service.RegistrationRefused:
        raise APIError(400, INVALID_CREDENTIAL, NOT_VERIFIED) from None
    except service.PasskeyTaken:
        raise APIError(409, CONFLICT, "That passkey is registered already.") from None
    created = {"id": passkey.id, "name": passkey.name, "created_at": passkey.created_at}
    return json_response(created, 201)


@bp.get("")
@login_required
@operation_id("listPasskeys")
@document_response(PasskeysOut, 200)
async def list_passkeys() -> ResponseReturnValue:
    """The account's passkeys, in the order they were added."""
    active = await current_session()
    passkeys = await service.list_passkeys(active.user_id)
    return json_response({"items": [item_json(passkey) for passkey in passkeys]})


@bp.delete("/<id:passkey_id>")
@login_required
@recent_auth_required()
@operation_id("deletePasskey")
@document_response(NoContent, 204)
async def delete_passkey(passkey_id: int) -> ResponseReturnValue:
    """Remove a passkey (removing the last one mails a notice)."""
    if await service.remove_passkey(passkey_id) is None:
        raise APIError(404, NOT_FOUND, "No such passkey.")
    return no_content()


@bp.post("/login/options")
@rate_limit(limits=[LOGIN_PER_ADDRESS])
@operation_id("beginPasskeyLogin")
@document_response(RequestOptionsOut, 200)
async def login_options() -> ResponseReturnValue:
    """Request options for ``navigator.credentials.get()``: no username needed."""
    return json_response(await service.login_options())


@bp.post("/login")
@rate_limit(limits=[LOGIN_PER_ADDRESS])
@validate_request(CredentialIn)
@operation_id("logInWithPasskey")
@document_response(UserOut, 200)
@document_response(ErrorOut, 401)
async def login(data: CredentialIn) -> ResponseReturnValue:
    """Sign in with a passkey (both factors at once); sets the auth cookie for this browser."""
    user = await service.log_in_user(data.credential)
    if user is None:
        raise APIError(401, INVALID_CREDENTIALS, NOT_VERIFIED)
    await auth.log_in(user, remember=False)
    return json_response({"id": user.id, "username": user.username})


@bp.post("/reauth/options")
@login_required
@operation_id("beginPasskeyReauth")
@document_response(RequestOptionsOut, 200)
@document_response(ErrorOut, 400)
async def reauth_options() -> ResponseReturnValue:
    """Request options to confirm it is you with one of your passkeys (SPEC §13)."""
    try:
        return json_response(await service.reauth_options())
    except service.NoPasskeys:
        raise APIError(400, BAD_REQUEST, "This account has no passkey.") from None


@bp.post("/reauth")
@login_required
@rate_limit(limits=[LOGIN_PER_ADDRESS])
@validate_request(CredentialIn)
@operation_id("reauthenticateWithPasskey")
@document_response(NoContent, 204)
@document_response(ErrorOut, 401)
async def reauthenticate(data: CredentialIn) -> ResponseReturnValue:
    """Confirm it is you with a passkey: sensitive actions are allowed for ``REAUTH_SECONDS``."""
    if not await service.reauthenticate(data.credential):
        raise APIError(401, INVALID_CREDENTIALS, NOT_VERIFIED)
    return no_content()
