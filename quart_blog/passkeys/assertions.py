"""Using a passkey: a sign-in response checked against its challenge and the stored key.

Login and re-authentication differ only in whose passkey may answer: anyone's (the
passkey names its user) or the logged-in user's. Every refusal is logged with its reason;
the client hears only "no". A refused login by a known passkey goes in its owner's
security log, and a signature counter that went back is a warning (a cloned key?).
"""

from __future__ import annotations

from typing import Any

from quart import current_app

from quart_blog.clock import utcnow
from quart_blog.db import get_session, single_write
from quart_blog.events import log
from quart_blog.passkeys import challenges, queries, relying_party
from quart_blog.passkeys.models import Passkey
from quart_blog.passkeys.relying_party import Assertion, CeremonyFailed, SignCountWentBack


async def use_passkey(
    purpose: str, credential: dict[str, Any], *, user_id: int | None
) -> Passkey | None:
    """Check a sign-in response for this client's ``purpose`` challenge; record the use.

    ``user_id``: the logged-in user the passkey must belong to (reauth), or ``None`` (login:
    the passkey names its user). ``None`` back for every refusal, which is logged.
    """
    challenge = await challenges.redeem(purpose, user_id=user_id)
    if challenge is None:
        refused(purpose, "no usable challenge")
        return None
    try:
        assertion = relying_party.parse_assertion(credential)
    except CeremonyFailed as error:
        refused(purpose, str(error))
        return None
    passkey = await claimed_passkey(assertion, user_id=user_id)
    if passkey is None:
        refused(purpose, "unknown credential, or not this user's")
        return None
    try:
        new_count = relying_party.verify_assertion(
            assertion,
            challenge=challenge,
            public_key=passkey.public_key,
            stored_count=passkey.sign_count,
        )
    except CeremonyFailed as error:
        await refused_for(purpose, passkey, error)
        return None
    if not await record_use(passkey, new_count):
        refused(purpose, "another sign-in with the same count came first")
        return None
    return passkey


async def claimed_passkey(assertion: Assertion, *, user_id: int | None) -> Passkey | None:
    """The stored passkey a response claims to come from, if it may be used here.

    Its user handle, when the authenticator sends one, must name the passkey's owner; for
    a logged-in ceremony the owner must be ``user_id``.
    """
    passkey = await queries.select_passkey_by_credential(
        get_session(), credential_id=assertion.credential_id
    )
    if passkey is None or (user_id is not None and passkey.user_id != user_id):
        return None
    handle = assertion.user_handle
    if handle is not None and handle != relying_party.user_handle(passkey.user_id):
        return None
    return passkey


async def record_use(passkey: Passkey, new_count: int) -> bool:
    """Store the new signature count and the time; false if a racing use came first."""
    db = get_session()
    async with single_write(db):
        return await queries.update_passkey_use(
            db,
            passkey_id=passkey.id,
            old_count=passkey.sign_count,
            new_count=new_count,
            now=utcnow(),
        )


async def refused_for(purpose: str, passkey: Passkey, error: CeremonyFailed) -> None:
    """Log a refused response from a known passkey; a refused login goes in its owner's log."""
    if isinstance(error, SignCountWentBack):
        current_app.logger.warning(
            "passkey %d of user %d refused: %s (a cloned authenticator?)",
            passkey.id,
            passkey.user_id,
            error,
        )
    else:
        refused(purpose, str(error))
    if purpose == challenges.LOGIN:
        db = get_session()
        async with single_write(db):
            await log.record(db, passkey.user_id, "login_failed")


def refused(purpose: str, reason: str) -> None:
    """Log why a ceremony's response was refused (the client only hears "no")."""
    current_app.logger.info("passkey %s refused: %s", purpose, reason)
