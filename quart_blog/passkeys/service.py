"""Where passkeys are added, listed, removed and used (SPEC §12, §13).

Pages and the API call these and nothing else. Every ceremony is two requests: the
options (a challenge issued to this client, see ``challenges``) and the browser's signed
response, checked against ``PUBLIC_URL``'s origin and host (``relying_party``; a sign-in
response in ``assertions``). A passkey signs in on its own: it names its user and, with
user verification required, is both factors at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from quart_blog.accounts import reauth
from quart_blog.accounts.models import User
from quart_blog.accounts.queries import select_user
from quart_blog.accounts.sessions import current_session
from quart_blog.clock import utcnow
from quart_blog.db import get_session, write_transaction
from quart_blog.events import log
from quart_blog.passkeys import assertions, challenges, queries, relying_party
from quart_blog.passkeys.models import Passkey
from quart_blog.passkeys.relying_party import CeremonyFailed, KnownCredential
from quart_blog.recovery.service import queue_notice

LAST_REMOVED_NOTICE = "passkey-removed"


class RegistrationRefused(Exception):
    """The new credential did not verify, or its challenge was missing, used or expired."""


class PasskeyTaken(Exception):
    """That credential is registered already."""


class NoPasskeys(Exception):
    """The account has no passkey to confirm with."""


def known(passkeys: list[Passkey]) -> list[KnownCredential]:
    """Stored passkeys as the ceremony options name them."""
    return [KnownCredential(p.credential_id, p.transports) for p in passkeys]


async def list_passkeys(user_id: int) -> list[Passkey]:
    """The user's passkeys, in the order they were added."""
    return await queries.select_user_passkeys(get_session(), user_id=user_id)


async def registration_options() -> dict[str, Any]:
    """Begin adding a passkey to the logged-in account: the creation options."""
    active = await current_session()
    existing = await list_passkeys(active.user_id)
    challenge = await challenges.begin(challenges.REGISTER, user_id=active.user_id)
    return relying_party.creation_options(
        challenge=challenge,
        user_id=active.user_id,
        username=active.username,
        existing=known(existing),
    )


async def add_passkey(name: str, credential: dict[str, Any]) -> Passkey:
    """Finish adding a passkey: verify the browser's response, store it, log the event.

    Raises ``RegistrationRefused`` or ``PasskeyTaken``.
    """
    active = await current_session()
    challenge = await challenges.redeem(challenges.REGISTER, user_id=active.user_id)
    if challenge is None:
        assertions.refused("register", "no usable challenge")
        raise RegistrationRefused
    try:
        new = relying_party.verify_new_credential(credential, challenge=challenge)
    except CeremonyFailed as error:
        assertions.refused("register", str(error))
        raise RegistrationRefused from None
    db = get_session()
    try:
        async with write_transaction(db):
            passkey = await queries.insert_passkey(
                db,
                user_id=active.user_id,
                credential_id=new.credential_id,
                public_key=new.public_key,
                sign_count=new.sign_count,
                name=name,
                transports=new.transports,
                now=utcnow(),
            )
            await log.record(db, active.user_id, "passkey_added")
    except IntegrityError:
        raise PasskeyTaken from None
    return passkey


async def remove_passkey(passkey_id: int) -> str | None:
    """Remove one of the logged-in user's passkeys and return its name; ``None`` if they
    have none with that id.

    Removing the last one mails a notice: the account is back to its password alone.
    """
    active = await current_session()
    db = get_session()
    async with write_transaction(db):
        name = await queries.delete_user_passkey(db, passkey_id=passkey_id, user_id=active.user_id)
        if name is None:
            return None
        await log.record(db, active.user_id, "passkey_removed")
        if await queries.count_user_passkeys(db, user_id=active.user_id) == 0:
            user = await select_user(db, active.user_id)
            if user is not None:
                await queue_notice(db, user, LAST_REMOVED_NOTICE, name=name)
    return name


async def login_options() -> dict[str, Any]:
    """Begin signing in with a passkey: request options that name no user."""
    challenge = await challenges.begin(challenges.LOGIN, user_id=None)
    return relying_party.request_options(challenge=challenge, allowed=[])


async def log_in_user(credential: dict[str, Any]) -> User | None:
    """The user a sign-in response proves, or ``None`` when it does not verify."""
    passkey = await assertions.use_passkey(challenges.LOGIN, credential, user_id=None)
    if passkey is None:
        return None
    return await select_user(get_session(), passkey.user_id)


async def reauth_options() -> dict[str, Any]:
    """Begin confirming the logged-in user with one of their passkeys. Raises ``NoPasskeys``."""
    active = await current_session()
    passkeys = await list_passkeys(active.user_id)
    if not passkeys:
        raise NoPasskeys
    challenge = await challenges.begin(challenges.REAUTH, user_id=active.user_id)
    return relying_party.request_options(challenge=challenge, allowed=known(passkeys))


async def reauthenticate(credential: dict[str, Any]) -> bool:
    """Recent authentication (SPEC §13) by passkey: true, and recorded, when it verifies."""
    active = await current_session()
    used = await assertions.use_passkey(challenges.REAUTH, credential, user_id=active.user_id)
    if used is None:
        return False
    await reauth.mark_recent()
    return True
