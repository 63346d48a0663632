"""Passkey ceremonies through the public API, answered by the software authenticator."""

from __future__ import annotations

from typing import Any

from quart import Quart
from quart.testing import QuartClient
from quart.wrappers import Response

from tests.passkeys.authenticator import SoftAuthenticator
from tests.views.helpers import sql

REGISTER_OPTIONS = "/api/v1/passkeys/register/options"
LOGIN_OPTIONS = "/api/v1/passkeys/login/options"
REAUTH_OPTIONS = "/api/v1/passkeys/reauth/options"
PASSKEYS = "/api/v1/passkeys"
LOGIN = "/api/v1/passkeys/login"
REAUTH = "/api/v1/passkeys/reauth"


async def options(client: QuartClient, path: str) -> dict[str, Any]:
    """POST to an options endpoint (no body, as the page's script does) and return them."""
    response = await client.post(path)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def start_adding(client: QuartClient, authenticator: SoftAuthenticator) -> dict[str, Any]:
    """The credential the authenticator makes for fresh creation options."""
    return authenticator.create(await options(client, REGISTER_OPTIONS))


async def add_passkey(
    client: QuartClient, authenticator: SoftAuthenticator, name: str = "Laptop"
) -> dict[str, Any]:
    """Add a passkey to the logged-in account; its JSON (``id``, ``name``, ``created_at``)."""
    credential = await start_adding(client, authenticator)
    response = await client.post(PASSKEYS, json={"name": name, "credential": credential})
    assert response.status_code == 201, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def sign_in(
    client: QuartClient, authenticator: SoftAuthenticator, **falsify: Any
) -> Response:
    """A passkey login from fresh options; ``falsify`` goes to ``SoftAuthenticator.get``."""
    assertion = authenticator.get(await options(client, LOGIN_OPTIONS), **falsify)
    return await client.post(LOGIN, json={"credential": assertion})


async def listed(client: QuartClient) -> list[dict[str, Any]]:
    """The logged-in user's passkeys as the API lists them."""
    response = await client.get(PASSKEYS)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    assert set(body) == {"items"}
    items: list[dict[str, Any]] = body["items"]
    return items


async def events(app: Quart, user_id: int) -> list[str]:
    """The user's security-log event types, oldest first."""
    rows = await sql(
        app, "SELECT type FROM auth_events WHERE user_id = :user_id ORDER BY id", user_id=user_id
    )
    return [row[0] for row in rows]


async def stored_passkeys(app: Quart) -> list[tuple[Any, ...]]:
    """Every passkey row: id, user, name, sign count, last use."""
    return await sql(
        app, "SELECT id, user_id, name, sign_count, last_used_at FROM passkeys ORDER BY id"
    )
