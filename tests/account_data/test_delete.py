"""Deleting the account (SPEC §14): everything of it goes in one unit of work, every cookie
and token of it stops working, the username is free, and a last notice is mailed."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import inspect, select

from quart_blog import clock
from quart_blog.clock import ManualClock
from quart_blog.db import get_database
from quart_blog.tables import metadata
from tests.account_data.helpers import fill_every_table, insert_token, user_tables
from tests.api.helpers import AUTH_COOKIE, assert_error, assert_username_free, set_cookies
from tests.factories import PASSWORD, api_login, api_post, api_register, api_user, submit
from tests.mfa.helpers import enrol
from tests.recovery.helpers import delivered, register_with_email, token_of
from tests.smtp import SmtpSink, text_part
from tests.views.helpers import Tags, is_logged_in, sql, text_of

DELETED_SUBJECT = "Your quart-blog account was deleted"


async def rows_of(app: Quart, user_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that names the user, table by table (and the user row itself)."""
    tables = [metadata.tables["users"], *(metadata.tables[name] for name in user_tables())]
    rows = {}
    async with app.app_context(), get_database().engine.connect() as connection:
        for table in tables:
            owner = table.c.id if table.name == "users" else table.c.user_id
            query = select(table).where(owner == user_id).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(row) for row in await connection.execute(query)]
    return rows


async def delete_me(client: QuartClient, **body: str) -> Any:
    return await client.delete("/api/v1/me", json=body)


async def verified_alice(app: Quart, client: QuartClient, smtp: SmtpSink) -> dict[str, Any]:
    """alice, with a confirmed address, logged in on ``client``."""
    alice = await register_with_email(client)
    [link] = await delivered(app, smtp, 1)
    response = await client.post("/api/v1/email/verify", json={"token": token_of(link)})
    assert response.status_code == 204
    await api_login(client)
    return alice


async def test_everything_of_the_account_goes_and_nothing_of_anyone_else(
    app: Quart, client: QuartClient, other_client: QuartClient, smtp: SmtpSink
) -> None:
    alice = await verified_alice(app, client, smtp)
    alice_elsewhere = app.test_client()
    await api_login(alice_elsewhere)
    for number in range(3):
        await api_post(client, title=f"alice {number}")
    await fill_every_table(app, alice["id"], "alice")
    alice_token = await insert_token(app, alice["id"])
    bearer = {"Authorization": f"Bearer {alice_token}"}
    assert (await app.test_client().get("/api/v1/posts", headers=bearer)).status_code == 200

    bob = await api_user(other_client, "bob")
    await api_post(other_client, title="bob's")
    await fill_every_table(app, bob["id"], "bob")
    bob_token = await insert_token(app, bob["id"])
    bobs_rows = await rows_of(app, bob["id"])
    assert all(bobs_rows.values()), bobs_rows  # bob has a row in every table

    wrong = await delete_me(client, current_password="not my password")
    await assert_error(wrong, 401, "invalid_credentials")
    alices_rows = await rows_of(app, alice["id"])
    assert all(alices_rows.values()), alices_rows

    response = await delete_me(client, current_password=PASSWORD)
    assert response.status_code == 204
    assert set_cookies(response)[AUTH_COOKIE][""] == ""  # the cookie is cleared

    assert not any((await rows_of(app, alice["id"])).values())
    for browser in (client, alice_elsewhere):
        await assert_error(await browser.get("/api/v1/me"), 401)
    await assert_error(await app.test_client().get("/api/v1/posts", headers=bearer), 401)

    assert await rows_of(app, bob["id"]) == bobs_rows
    listing = await other_client.get("/api/v1/posts")
    assert [post["title"] for post in (await listing.get_json())["items"]] == ["bob's"]
    bobs_bearer = {"Authorization": f"Bearer {bob_token}"}
    assert (await app.test_client().get("/api/v1/me", headers=bobs_bearer)).status_code == 200

    await assert_username_free(app.test_client(), "alice")
    [_verify, _confirmed, notice] = await delivered(app, smtp, 3)
    assert notice["To"] == "alice@example.org"
    assert notice["Subject"] == DELETED_SUBJECT
    assert "deleted" in text_part(notice) and "alice" in text_part(notice)


async def test_no_notice_without_a_confirmed_address(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    await register_with_email(client)  # the address is never confirmed
    await api_login(client)
    assert (await delete_me(client, current_password=PASSWORD)).status_code == 204
    [verification] = await delivered(app, smtp, 1)
    assert verification["Subject"] != DELETED_SUBJECT


async def test_every_foreign_key_to_users_cascades(app: Quart) -> None:
    """On the live database, as the migrations built it (SQLite and PostgreSQL)."""

    def foreign_keys(connection: Any) -> dict[str, list[dict[str, Any]]]:
        inspector = inspect(connection)
        return {table: inspector.get_foreign_keys(table) for table in inspector.get_table_names()}

    async with app.app_context(), get_database().engine.connect() as connection:
        found = await connection.run_sync(foreign_keys)
    to_users = {
        table: key
        for table, keys in found.items()
        for key in keys
        if key["referred_table"] == "users"
    }
    assert sorted(to_users) == user_tables()
    for table, key in to_users.items():
        assert key["options"].get("ondelete", "").upper() == "CASCADE", table


@pytest.mark.parametrize("body", [{}, {"current_password": 12345678}, {"code": "123456"}])
async def test_bad_bodies_are_refused_and_nothing_goes(
    app: Quart, client: QuartClient, body: dict[str, Any]
) -> None:
    alice = await api_user(client)
    await assert_error(await client.delete("/api/v1/me", json=body), 422)
    assert (await rows_of(app, alice["id"]))["users"]


async def test_with_totp_on_a_code_is_needed_too(app: Quart, client: QuartClient) -> None:
    with clock.use(ManualClock()) as manual:
        alice = await api_user(client)
        authenticator, recovery_codes = await enrol(client, manual)
        page = await text_of(await client.get("/account/delete"))
        assert Tags(page).field("code") is not None

        on_page = await submit(
            client, "/account/delete", {"current_password": PASSWORD}, "/account/delete"
        )
        assert on_page.status_code == 400
        assert Tags(await text_of(on_page)).field("code") == {
            **(Tags(page).field("code") or {}),
            "aria-invalid": "true",
            "aria-describedby": "form-error",
            "autofocus": "",
        }
        no_code = await delete_me(client, current_password=PASSWORD)
        assert "code" in (await assert_error(no_code, 401, "invalid_credentials"))["message"]
        wrong_code = await delete_me(client, current_password=PASSWORD, code="000000")
        await assert_error(wrong_code, 401, "invalid_credentials")
        wrong_password = await delete_me(
            client, current_password="not my password", code=authenticator.next_code()
        )
        await assert_error(wrong_password, 401, "invalid_credentials")
        assert (await rows_of(app, alice["id"]))["users"]

        deleted = await delete_me(client, current_password=PASSWORD, code=recovery_codes[0])
        assert deleted.status_code == 204
    assert not any((await rows_of(app, alice["id"])).values())


async def test_the_page_says_what_goes_and_deletes(
    app: Quart, client: QuartClient, other_client: QuartClient
) -> None:
    await api_register(client)
    await submit(client, "/login", {"username": "alice", "password": PASSWORD})
    await submit(other_client, "/login", {"username": "alice", "password": PASSWORD})
    form = await client.get("/account/delete")
    assert form.status_code == 200
    page = await text_of(form)
    assert "every post" in page and "no undo" in page
    tags = Tags(page)
    assert tags.field("current_password") is not None and tags.field("code") is None

    wrong = await submit(
        client, "/account/delete", {"current_password": "not my password"}, "/account/delete"
    )
    assert wrong.status_code == 400
    wrong_page = await text_of(wrong)
    assert "That is not your password." in wrong_page
    assert Tags(wrong_page).field("current_password") is not None
    assert await is_logged_in(client)

    done = await submit(
        client, "/account/delete", {"current_password": PASSWORD}, "/account/delete"
    )
    assert done.status_code == 303
    assert done.headers["Location"] == "/login"
    assert "were deleted" in await text_of(await client.get("/login"))
    assert not await is_logged_in(client)
    assert not await is_logged_in(other_client)
    assert not await sql(app, "SELECT id FROM users")
