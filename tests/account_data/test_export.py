"""The export (SPEC §14): one JSON document with everything of the account, never a hash,
streamed a batch at a time."""

from __future__ import annotations

import json
from typing import Any

from quart import Quart
from quart.testing import QuartClient

from quart_blog.account_data.export import POSTS_BATCH
from quart_blog.db import get_database
from tests.account_data.helpers import WHEN, insert_posts, insert_rows, insert_token
from tests.events.helpers import FIREFOX_LINUX
from tests.factories import PASSWORD, api_login, api_post, api_register, api_user, form_login
from tests.views.helpers import sql

SECTIONS = {"profile", "posts", "sessions", "tokens", "events"}


async def exported(client: QuartClient, path: str = "/api/v1/me/export") -> dict[str, Any]:
    response = await client.get(path)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    document: dict[str, Any] = json.loads(await response.get_data())
    assert set(document) == SECTIONS
    return document


def keys_of(value: Any) -> set[str]:
    """Every key anywhere in a parsed JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(keys_of(child) for child in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_of(child) for child in value))
    return set()


async def secrets_of(app: Quart, user_id: int) -> list[str]:
    """Every hash and secret the database holds for the user."""
    statements = [
        "SELECT password_hash FROM users WHERE id = :id",
        "SELECT token_hash FROM auth_sessions WHERE user_id = :id",
        "SELECT token_hash FROM api_tokens WHERE user_id = :id",
        "SELECT code_hash FROM recovery_codes WHERE user_id = :id",
        "SELECT secret FROM mfa_totp WHERE user_id = :id",
    ]
    found = []
    for statement in statements:
        found += [str(row[0]) for row in await sql(app, statement, id=user_id)]
    return found


async def give_second_factors(app: Quart, user_id: int) -> None:
    """A confirmed TOTP secret, two recovery codes and a passkey, straight in the tables."""
    await insert_rows(
        app,
        "mfa_totp",
        [
            {
                "user_id": user_id,
                "secret": '{"enc": "sealed-secret"}',
                "created_at": WHEN,
                "confirmed_at": WHEN,
                "last_counter": 0,
            }
        ],
    )
    await insert_rows(
        app,
        "recovery_codes",
        [{"user_id": user_id, "code_hash": f"{n}" * 64, "created_at": WHEN} for n in (1, 2)],
    )
    await insert_rows(
        app,
        "passkeys",
        [
            {
                "user_id": user_id,
                "credential_id": b"credential-one",
                "public_key": b"cose key",
                "sign_count": 0,
                "name": "Laptop",
                "transports": "internal",
                "created_at": WHEN,
            }
        ],
    )


async def test_the_document_holds_everything_of_the_account_and_no_secret(
    app: Quart, client: QuartClient, other_client: QuartClient
) -> None:
    alice = await api_register(client, email="alice@example.org")
    await api_login(client)
    second = app.test_client()
    await second.post(
        "/api/v1/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"User-Agent": FIREFOX_LINUX},
    )
    for number in range(3):
        await api_post(client, title=f"alice {number}")
    await api_user(other_client, "bob")
    await api_post(other_client, title="bob's")
    token = await insert_token(app, alice["id"])
    await give_second_factors(app, alice["id"])

    document = await exported(client)
    profile = document["profile"]
    assert profile["id"] == alice["id"] and profile["username"] == "alice"
    assert profile["email"] == "alice@example.org" and profile["email_verified"] is False
    assert profile["created_at"].endswith("Z") and profile["last_login_at"].endswith("Z")
    assert profile["second_factor"] == {
        "totp": True,
        "recovery_codes_left": 2,
        "passkeys": [
            {"id": 1, "name": "Laptop", "created_at": "2026-03-01T12:00:00Z", "last_used_at": None}
        ],
    }
    assert [post["title"] for post in document["posts"]] == ["alice 0", "alice 1", "alice 2"]
    assert set(document["posts"][0]) == {"id", "title", "body", "created_at", "updated_at"}
    sessions = document["sessions"]
    assert len(sessions) == 2 and [s["current"] for s in sessions] == [True, False]
    assert sessions[1]["device"] == "Firefox 133 on Linux"
    assert set(sessions[0]) == {
        "id",
        "created_at",
        "last_seen_at",
        "expires_at",
        "remember",
        "user_agent",
        "device",
        "current",
    }
    [exported_token] = document["tokens"]
    assert exported_token["name"] == "script" and exported_token["scope"] == "write"
    assert set(exported_token) == {
        "id",
        "name",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
    }
    assert [event["type"] for event in document["events"]] == ["login", "login"]
    assert set(document["events"][0]) == {
        "id",
        "type",
        "created_at",
        "address",
        "device",
        "user_agent",
    }

    text = json.dumps(document)
    for secret in [token, *await secrets_of(app, alice["id"])]:
        assert secret not in text
    assert not {key for key in keys_of(document) if "hash" in key or "secret" in key}
    assert "credential" not in text and "public_key" not in text
    assert "bob" not in text


async def test_the_page_downloads_the_same_document(client: QuartClient) -> None:
    await api_register(client)
    await form_login(client)
    await api_post(client)
    response = await client.get("/account/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="quart-blog-alice.json"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    document = json.loads(await response.get_data())
    assert set(document) == SECTIONS
    assert [post["title"] for post in document["posts"]] == ["First post"]
    api_document = await exported(client)
    assert api_document["posts"] == document["posts"]


async def test_posts_come_oldest_first_a_batch_per_chunk(app: Quart, client: QuartClient) -> None:
    user = await api_user(client)
    count = 3 * POSTS_BATCH + 5
    await insert_posts(app, user["id"], count)
    chunks = []
    async with client.request("/api/v1/me/export") as connection:
        await connection.send_complete()
        while chunk := await connection.receive():
            chunks.append(chunk)
    assert connection.status_code == 200
    # Streamed: the profile, then each batch of posts in a chunk of its own, and so on.
    assert len(chunks) >= 5
    assert max(len(chunk) for chunk in chunks) < sum(len(chunk) for chunk in chunks) / 3
    posts = json.loads(b"".join(chunks))["posts"]
    assert [post["title"] for post in posts] == [f"post {n}" for n in range(count)]
    assert [post["id"] for post in posts] == sorted(post["id"] for post in posts)


async def idle_in_transaction(app: Quart) -> int:
    """PostgreSQL connections of this database left inside a transaction (0 on SQLite)."""
    async with app.app_context():
        if get_database().engine.dialect.name != "postgresql":
            return 0
    rows = await sql(
        app,
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    return int(rows[0][0])


async def test_a_client_leaving_mid_export_leaves_nothing_open(
    app: Quart, client: QuartClient
) -> None:
    user = await api_user(client)
    await insert_posts(app, user["id"], 10 * POSTS_BATCH)
    async with client.request("/api/v1/me/export") as connection:
        await connection.send_complete()
        first = await connection.receive()  # the profile: the posts are being read now
        await connection.disconnect()
    received = first + bytes(connection.response_data)
    # The export stopped at the next batch instead of reading on for nobody.
    assert received.startswith(b'{"profile":')
    assert received.count(b'"title":') < 3 * POSTS_BATCH
    async with app.app_context():
        assert get_database().engine.sync_engine.pool.checkedout() == 0
    assert await idle_in_transaction(app) == 0
    # And the account works as before.
    await api_post(client, title="after")


async def test_an_api_token_exports_too(app: Quart, client: QuartClient) -> None:
    user = await api_user(client)
    await api_post(client)
    token = await insert_token(app, user["id"])
    scripted = app.test_client()  # no cookie: the token alone
    response = await scripted.get("/api/v1/me/export", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    document = json.loads(await response.get_data())
    assert [post["title"] for post in document["posts"]] == ["First post"]
    # The token has no login session: none of the sessions is the one asking.
    assert [session["current"] for session in document["sessions"]] == [False]
