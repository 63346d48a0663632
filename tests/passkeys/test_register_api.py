"""Adding a passkey through the API (SPEC §12, §13): options, the new credential, its name."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from quart_blog.passkeys.challenges import COOKIE_PATH, cookie_name
from tests.api.helpers import JSON_HEADERS, assert_error, set_cookies
from tests.factories import api_user
from tests.passkeys.authenticator import SoftAuthenticator, unb64url
from tests.passkeys.conftest import PUBLIC_URL, RP_ID
from tests.passkeys.helpers import (
    PASSKEYS,
    REGISTER_OPTIONS,
    add_passkey,
    events,
    listed,
    options,
    start_adding,
    stored_passkeys,
)
from tests.views.helpers import running_app

REGISTER_COOKIE = cookie_name("register")


async def test_creation_options_name_this_site_from_public_url(client: QuartClient) -> None:
    user = await api_user(client)
    response = await client.post(REGISTER_OPTIONS)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["rp"] == {"id": RP_ID, "name": "quart-blog"}
    assert body["user"]["name"] == body["user"]["displayName"] == "alice"
    assert unb64url(body["user"]["id"]) == str(user["id"]).encode()
    assert len(unb64url(body["challenge"])) >= 32
    assert body["authenticatorSelection"] == {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    }
    assert body["attestation"] == "none"
    assert {"type": "public-key", "alg": -7} in body["pubKeyCredParams"]
    assert body["excludeCredentials"] == []
    # The challenge is bound to this browser by a cookie only the passkey API sees.
    cookie = set_cookies(response)[REGISTER_COOKIE]
    assert cookie["path"] == COOKIE_PATH
    assert cookie["samesite"] == "Strict"
    assert "httponly" in cookie
    assert "secure" not in cookie  # plain HTTP here
    assert int(cookie["max-age"]) == 120


async def test_challenge_cookie_is_secure_over_https(client: QuartClient) -> None:
    await api_user(client)
    response = await client.post(REGISTER_OPTIONS, scheme="https")
    assert response.status_code == 200
    assert "secure" in set_cookies(response)[REGISTER_COOKIE]


async def test_every_options_call_has_a_new_challenge(client: QuartClient) -> None:
    await api_user(client)
    first = await options(client, REGISTER_OPTIONS)
    second = await options(client, REGISTER_OPTIONS)
    assert first["challenge"] != second["challenge"]


async def test_add_list_and_event(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    user = await api_user(client)
    added = await add_passkey(client, authenticator, "  Work laptop  ")
    assert set(added) == {"id", "name", "created_at"}
    assert added["name"] == "Work laptop"  # trimmed
    assert added["created_at"].endswith("Z")
    assert await listed(client) == [{**added, "last_used_at": None}]
    assert "passkey_added" in await events(app, user["id"])


async def test_existing_passkeys_are_excluded(
    client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(client)
    await add_passkey(client, authenticator, "Phone")
    body = await options(client, REGISTER_OPTIONS)
    credential = authenticator.credentials[0]
    assert [unb64url(item["id"]) for item in body["excludeCredentials"]] == [
        credential.credential_id
    ]
    assert body["excludeCredentials"][0]["transports"] == ["internal", "hybrid"]


async def test_a_second_passkey_is_listed_after_the_first(
    client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(client)
    first = await add_passkey(client, authenticator, "Phone")
    second = await add_passkey(client, SoftAuthenticator(PUBLIC_URL), "Key")
    assert [item["id"] for item in await listed(client)] == [first["id"], second["id"]]


async def test_lists_only_your_own(
    client: QuartClient, other_client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(client)
    await add_passkey(client, authenticator)
    await api_user(other_client, "bob")
    assert await listed(other_client) == []


async def test_adding_needs_recent_authentication(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_user(client)
        credential = await start_adding(client, authenticator)  # while still recent
        manual.advance(601)
        await assert_error(await client.post(REGISTER_OPTIONS), 403, "reauth_required")
        response = await client.post(PASSKEYS, json={"name": "Late", "credential": credential})
        await assert_error(response, 403, "reauth_required")
        assert await stored_passkeys(app) == []
        assert await listed(client) == []  # listing is not sensitive


async def test_a_challenge_works_once(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(client)
    credential = await start_adding(client, authenticator)
    body = {"name": "Laptop", "credential": credential}
    assert (await client.post(PASSKEYS, json=body)).status_code == 201
    # The same response again: the challenge is gone (and the browser's cookie with it).
    client.set_cookie("localhost", REGISTER_COOKIE, "A" * 43, path=COOKIE_PATH)
    await assert_error(await client.post(PASSKEYS, json=body), 400, "invalid_credential")
    assert len(await stored_passkeys(app)) == 1


async def test_replayed_cookie_after_use_is_refused(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(client)
    response = await client.post(REGISTER_OPTIONS)
    token = set_cookies(response)[REGISTER_COOKIE][""]
    credential = authenticator.create(await response.get_json())
    body = {"name": "Laptop", "credential": credential}
    used = await client.post(PASSKEYS, json=body)
    assert used.status_code == 201
    assert set_cookies(used)[REGISTER_COOKIE][""] == ""  # cleared
    client.set_cookie("localhost", REGISTER_COOKIE, token, path=COOKIE_PATH)
    await assert_error(await client.post(PASSKEYS, json=body), 400, "invalid_credential")


async def test_an_expired_challenge_is_refused(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_user(client)
        credential = await start_adding(client, authenticator)
        manual.advance(121)
        response = await client.post(PASSKEYS, json={"name": "Slow", "credential": credential})
        await assert_error(response, 400, "invalid_credential")
        assert await stored_passkeys(app) == []


async def test_the_challenge_belongs_to_the_browser_that_asked(
    app: Quart, client: QuartClient, other_client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(client)
    await api_user(other_client, "bob")
    credential = await start_adding(client, authenticator)  # alice's browser asked
    body = {"name": "Stolen", "credential": credential}
    await assert_error(await other_client.post(PASSKEYS, json=body), 400, "invalid_credential")
    assert await stored_passkeys(app) == []


async def test_a_challenge_issued_to_another_user_is_refused(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    """Options fetched as alice, then (same browser) logged in as bob: not bob's challenge."""
    await api_user(client)
    credential = await start_adding(client, authenticator)
    await api_user(client, "bob")
    body = {"name": "Swapped", "credential": credential}
    await assert_error(await client.post(PASSKEYS, json=body), 400, "invalid_credential")
    assert await stored_passkeys(app) == []


@pytest.mark.parametrize(
    ("falsify", "why"),
    [
        ({"origin": "https://evil.example"}, "made for another origin"),
        ({"origin": "http://localhost"}, "made for the request's Host, not PUBLIC_URL"),
        ({"rp_id": "evil.example"}, "made for another relying party"),
        ({"rp_id": "localhost"}, "made for the request's host"),
        ({"user_verified": False}, "no user verification"),
    ],
)
async def test_a_credential_that_does_not_verify_is_refused(
    app: Quart,
    client: QuartClient,
    authenticator: SoftAuthenticator,
    falsify: dict[str, Any],
    why: str,
) -> None:
    await api_user(client)
    credential = authenticator.create(await options(client, REGISTER_OPTIONS), **falsify)
    response = await client.post(PASSKEYS, json={"name": "Bad", "credential": credential})
    await assert_error(response, 400, "invalid_credential")
    assert await stored_passkeys(app) == [], why


async def test_a_credential_registered_already_is_a_conflict(
    app: Quart, client: QuartClient, other_client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(client)
    await add_passkey(client, authenticator)
    first = authenticator.credentials[0]
    await api_user(other_client, "bob")
    again = authenticator.create(
        await options(other_client, REGISTER_OPTIONS),
        credential_id=first.credential_id,
        key=first.key,
    )
    response = await other_client.post(PASSKEYS, json={"name": "Same", "credential": again})
    await assert_error(response, 409, "conflict")
    assert len(await stored_passkeys(app)) == 1


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * 65, "bad\x00name", "\ud800"],
    ids=["empty", "spaces", "too-long", "nul", "surrogate"],
)
async def test_bad_names_are_422_and_nothing_is_stored(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator, name: str
) -> None:
    await api_user(client)
    credential = await start_adding(client, authenticator)
    response = await client.post(PASSKEYS, json={"name": name, "credential": credential})
    await assert_error(response, {400, 422})
    assert await stored_passkeys(app) == []


async def test_a_64_character_name_is_fine(
    client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(client)
    added = await add_passkey(client, authenticator, "é" * 64)
    assert added["name"] == "é" * 64


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"name": "Laptop"}',
        b'{"credential": {}}',
        b'{"name": 5, "credential": {}}',
        b'{"name": "Laptop", "credential": "not an object"}',
        b'{"name": "Laptop", "credential": [1, 2]}',
        b"[]",
    ],
)
async def test_malformed_bodies_are_clear_errors(
    app: Quart, client: QuartClient, body: bytes
) -> None:
    await api_user(client)
    await options(client, REGISTER_OPTIONS)
    response = await client.post(PASSKEYS, data=body, headers=JSON_HEADERS)
    await assert_error(response, {400, 422})
    assert await stored_passkeys(app) == []


@pytest.mark.parametrize(
    "credential",
    [
        {},
        {"id": "x", "rawId": "x", "type": "public-key", "response": {}},
        {
            "id": "AAAA",
            "rawId": "AAAA",
            "type": "public-key",
            "response": {"clientDataJSON": "!!!", "attestationObject": "???"},
        },
        {
            "id": "AAAA",
            "rawId": "AAAA",
            "type": "public-key",
            "response": {"clientDataJSON": "e30", "attestationObject": "oA"},
        },
    ],
    ids=["empty", "no-response", "bad-base64", "empty-structures"],
)
async def test_a_garbled_credential_is_refused_not_a_500(
    app: Quart, client: QuartClient, credential: dict[str, Any]
) -> None:
    await api_user(client)
    await options(client, REGISTER_OPTIONS)
    response = await client.post(PASSKEYS, json={"name": "Laptop", "credential": credential})
    await assert_error(response, 400, "invalid_credential")
    assert await stored_passkeys(app) == []


async def test_wrong_content_type_is_415(client: QuartClient) -> None:
    await api_user(client)
    response = await client.post(PASSKEYS, data="name=x", headers={"Content-Type": "text/plain"})
    await assert_error(response, 415)


@pytest.mark.parametrize(
    ("public_url", "rp_id", "origin"),
    [
        ("HTTPS://Blog.Example.ORG:443", "blog.example.org", "https://blog.example.org"),
        ("http://localhost:8000", "localhost", "http://localhost:8000"),
        ("http://intranet.example:80/", "intranet.example", "http://intranet.example"),
    ],
)
async def test_relying_party_is_public_urls_host_and_origin(
    app_overrides: dict[str, str], public_url: str, rp_id: str, origin: str
) -> None:
    """The origin a browser writes: lower-case host, no default port."""
    async with running_app({**app_overrides, "PUBLIC_URL": public_url}) as app:
        client = app.test_client()
        await api_user(client)
        creation = await options(client, REGISTER_OPTIONS)
        assert creation["rp"]["id"] == rp_id
        device = SoftAuthenticator(origin)
        body = {"name": "Laptop", "credential": device.create(creation)}
        assert (await client.post(PASSKEYS, json=body)).status_code == 201
