"""The tokens API (SPEC §14): create (recent authentication, shown once), list, revoke."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from tests.api.helpers import JSON_HEADERS, assert_error
from tests.factories import api_login, api_register, api_user
from tests.tokens.helpers import bearer, event_types, list_tokens, make_token, token_rows

REAUTH_SECONDS = 600
TOKEN_FIELDS = {"id", "name", "scope", "created_at", "expires_at", "last_used_at"}


def parsed(value: str) -> datetime:
    """An ISO 8601 UTC timestamp of the API."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_create_answers_the_token_once_with_its_details(client: QuartClient) -> None:
    await api_user(client)
    made = await make_token(client, name="backup script", scope="read", days=7)
    assert set(made) == TOKEN_FIELDS | {"token"}
    assert made["name"] == "backup script"
    assert made["scope"] == "read"
    assert made["last_used_at"] is None
    assert parsed(made["expires_at"]) - parsed(made["created_at"]) == timedelta(days=7)
    # Recognisable by secret scanners: a fixed prefix, then 256 random bits.
    assert made["token"].startswith("qb_") and len(made["token"]) == 3 + 43


async def test_list_never_holds_the_secret(client: QuartClient) -> None:
    await api_user(client)
    made = await make_token(client)
    items = await list_tokens(client)
    assert [set(item) for item in items] == [TOKEN_FIELDS]
    assert items[0] == {key: made[key] for key in TOKEN_FIELDS}
    response = await client.get("/api/v1/tokens")
    assert made["token"] not in await response.get_data(as_text=True)


async def test_list_is_newest_first_and_only_your_own(
    client: QuartClient, other_client: QuartClient
) -> None:
    await api_user(client)
    await api_user(other_client, "bob")
    first = await make_token(client, name="one")
    second = await make_token(client, name="two")
    await make_token(other_client, name="bob's")
    assert [item["id"] for item in await list_tokens(client)] == [second["id"], first["id"]]
    assert [item["name"] for item in await list_tokens(other_client)] == ["bob's"]


async def test_the_table_holds_only_the_hash(app: Quart, client: QuartClient) -> None:
    await api_user(client)
    made = await make_token(client)
    rows = await token_rows(app)
    assert len(rows) == 1
    assert hashlib.sha256(made["token"].encode()).hexdigest() in rows[0]
    secret = made["token"].removeprefix("qb_")
    assert not any(secret in str(value) for value in rows[0])


async def test_every_token_is_different(client: QuartClient) -> None:
    await api_user(client)
    tokens = {(await make_token(client))["token"] for _ in range(5)}
    assert len(tokens) == 5


async def test_creating_and_revoking_are_in_the_security_log(
    app: Quart, client: QuartClient
) -> None:
    await api_user(client)
    made = await make_token(client)
    response = await client.delete(f"/api/v1/tokens/{made['id']}", headers=JSON_HEADERS)
    assert response.status_code == 204
    events = await event_types(app)
    assert events[-2:] == ["token_created", "token_revoked"]


async def test_revoke_removes_it_and_a_second_revoke_is_404(
    app: Quart, client: QuartClient
) -> None:
    await api_user(client)
    made = await make_token(client)
    assert (await client.delete(f"/api/v1/tokens/{made['id']}")).status_code == 204
    assert await list_tokens(client) == []
    assert await token_rows(app) == []
    await assert_error(await client.delete(f"/api/v1/tokens/{made['id']}"), 404, "not_found")
    assert (await event_types(app)).count("token_revoked") == 1


async def test_another_users_token_is_404_and_stays(
    app: Quart, client: QuartClient, other_client: QuartClient
) -> None:
    await api_user(client)
    await api_user(other_client, "bob")
    bobs = await make_token(other_client)
    await assert_error(await client.delete(f"/api/v1/tokens/{bobs['id']}"), 404, "not_found")
    assert len(await token_rows(app)) == 1
    response = await other_client.get("/api/v1/posts", headers=bearer(bobs["token"]))
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/tokens/999999", "/api/v1/tokens/9999999999999999999"])
async def test_revoke_of_no_such_token_is_404(client: QuartClient, path: str) -> None:
    await api_user(client)
    await assert_error(await client.delete(path), 404)


async def test_tokens_need_a_session(client: QuartClient) -> None:
    body = {"name": "x", "scope": "read", "expires_in_days": 1}
    await assert_error(await client.post("/api/v1/tokens", json=body), 401)
    await assert_error(await client.get("/api/v1/tokens"), 401)
    await assert_error(await client.delete("/api/v1/tokens/1"), 401)


@pytest.mark.parametrize(
    ("age", "allowed"), [(REAUTH_SECONDS - 5, True), (REAUTH_SECONDS + 1, False)]
)
async def test_creating_needs_recent_authentication(
    app: Quart, client: QuartClient, age: int, allowed: bool
) -> None:
    body = {"name": "x", "scope": "write", "expires_in_days": 30}
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_user(client)
        manual.advance(age)
        response = await client.post("/api/v1/tokens", json=body)
        if allowed:
            assert response.status_code == 201
            return
        await assert_error(response, 403, "reauth_required")
        assert await token_rows(app) == []
        # Listing and revoking need no fresh check: neither makes a credential.
        assert (await client.get("/api/v1/tokens")).status_code == 200
        reauth = await client.post("/api/v1/reauth", json={"password": "correct horse battery"})
        assert reauth.status_code == 204
        assert (await client.post("/api/v1/tokens", json=body)).status_code == 201


VALID = {"name": "script", "scope": "read", "expires_in_days": 30}


@pytest.mark.parametrize(
    "changes",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 65},
        {"name": 12},
        {"name": None},
        {"name": "nul\x00byte"},
        {"scope": "admin"},
        {"scope": "READ"},
        {"scope": None},
        {"expires_in_days": 0},
        {"expires_in_days": 366},
        {"expires_in_days": -1},
        {"expires_in_days": "30"},
        {"expires_in_days": 1.5},
        {"expires_in_days": True},
        {"expires_in_days": 10**30},
    ],
)
async def test_bad_fields_are_422_and_nothing_is_made(
    app: Quart, client: QuartClient, changes: dict[str, Any]
) -> None:
    await api_user(client)
    response = await client.post("/api/v1/tokens", json={**VALID, **changes})
    await assert_error(response, {400, 422})  # a NUL is refused as the JSON is read
    assert await token_rows(app) == []


@pytest.mark.parametrize("missing", sorted(VALID))
async def test_a_missing_field_is_422(client: QuartClient, missing: str) -> None:
    await api_user(client)
    body = {key: value for key, value in VALID.items() if key != missing}
    await assert_error(await client.post("/api/v1/tokens", json=body), 422)


async def test_bad_bodies_are_clear_errors(client: QuartClient) -> None:
    await api_user(client)
    await assert_error(await client.post("/api/v1/tokens", data=b"{", headers=JSON_HEADERS), 400)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    await assert_error(await client.post("/api/v1/tokens", data="name=x", headers=form), 415)


async def test_a_name_is_trimmed_and_may_be_any_text(client: QuartClient) -> None:
    await api_user(client)
    made = await make_token(client, name="  <b>ünïcode</b> 🙂  ")
    assert made["name"] == "<b>ünïcode</b> 🙂"
    assert (await make_token(client, name="x" * 64))["name"] == "x" * 64


async def test_the_number_of_live_tokens_is_bounded(app: Quart, client: QuartClient) -> None:
    await api_user(client)
    for _ in range(50):
        await make_token(client)
    response = await client.post("/api/v1/tokens", json=VALID)
    await assert_error(response, 409, "conflict")
    assert len(await token_rows(app)) == 50
    first = (await list_tokens(client))[-1]
    assert (await client.delete(f"/api/v1/tokens/{first['id']}")).status_code == 204
    assert (await client.post("/api/v1/tokens", json=VALID)).status_code == 201


async def test_expired_tokens_leave_the_list_and_the_table(app: Quart, client: QuartClient) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_register(client)
        await api_login(client, remember=True)  # a session that outlives the token
        await make_token(client, name="short", days=1)
        manual.advance(86400)
        assert await list_tokens(client) == []
        await client.post("/api/v1/reauth", json={"password": "correct horse battery"})
        await make_token(client, name="new")
        # Making a token drops the user's expired ones.
        assert [row for row in await token_rows(app) if "short" in row] == []
