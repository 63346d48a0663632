"""Bearer authentication (SPEC §14): what a token does, and when it stops working."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from tests.api.helpers import AUTH_COOKIE, JSON_HEADERS, assert_error, set_cookies
from tests.factories import api_post, api_user
from tests.tokens.helpers import bearer, list_tokens, make_token
from tests.views.helpers import running_app, sql

CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}


@pytest.fixture
async def token(client: QuartClient) -> str:
    """alice's write token, made with her session on ``client``."""
    await api_user(client)
    made: dict[str, Any] = await make_token(client, scope="write")
    return str(made["token"])


@pytest.fixture
def script(app: Quart) -> QuartClient:
    """A client with no cookies at all: a script that has only its token."""
    return app.test_client()


async def test_a_token_reads_and_writes_your_posts(
    client: QuartClient, script: QuartClient, token: str
) -> None:
    mine = await api_post(client, title="Mine")
    auth = bearer(token)
    me = await script.get("/api/v1/me", headers=auth)
    assert me.status_code == 200
    assert (await me.get_json())["username"] == "alice"
    listed = await script.get("/api/v1/posts", headers=auth)
    assert [item["id"] for item in (await listed.get_json())["items"]] == [mine["id"]]
    created = await script.post("/api/v1/posts", json={"title": "T", "body": "B"}, headers=auth)
    assert created.status_code == 201
    post_url = f"/api/v1/posts/{(await created.get_json())['id']}"
    assert (await script.get(post_url, headers=auth)).status_code == 200
    patched = await script.patch(post_url, json={"title": "T2"}, headers=auth)
    assert (await patched.get_json())["title"] == "T2"
    assert (await script.delete(post_url, headers=auth)).status_code == 204
    # The posts are alice's, seen through her cookie too.
    assert len((await (await client.get("/api/v1/posts")).get_json())["items"]) == 1


async def test_a_token_sees_only_its_owners_posts(
    client: QuartClient, other_client: QuartClient, script: QuartClient, token: str
) -> None:
    await api_user(other_client, "bob")
    bobs = await api_post(other_client, title="Bob's")
    auth = bearer(token)
    listed = await script.get("/api/v1/posts", headers=auth)
    assert (await listed.get_json())["items"] == []
    await assert_error(await script.get(f"/api/v1/posts/{bobs['id']}", headers=auth), 404)
    await assert_error(await script.delete(f"/api/v1/posts/{bobs['id']}", headers=auth), 404)


async def test_a_bearer_answer_sets_no_cookie(script: QuartClient, token: str) -> None:
    response = await script.get("/api/v1/posts", headers=bearer(token))
    assert response.status_code == 200
    assert set_cookies(response) == {}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/posts", {"title": "T", "body": "B"}),
        ("PATCH", "/api/v1/posts/{id}", {"title": "T"}),
        ("DELETE", "/api/v1/posts/{id}", None),
    ],
)
async def test_a_read_token_may_not_write(
    client: QuartClient, script: QuartClient, method: str, path: str, body: Any
) -> None:
    await api_user(client)
    post = await api_post(client)
    read = (await make_token(client, scope="read"))["token"]
    url = path.format(id=post["id"])
    response = await script.open(url, method=method, json=body, headers=bearer(read))
    error = await assert_error(response, 403, "insufficient_scope")
    assert "write" in error["message"]
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    # Nothing changed, and reading still works.
    listed = await script.get("/api/v1/posts", headers=bearer(read))
    assert [(item["id"], item["title"]) for item in (await listed.get_json())["items"]] == [
        (post["id"], post["title"])
    ]
    assert (await script.get("/api/v1/me", headers=bearer(read))).status_code == 200


async def test_head_is_a_read(client: QuartClient, script: QuartClient) -> None:
    await api_user(client)
    read = (await make_token(client, scope="read"))["token"]
    assert (await script.head("/api/v1/posts", headers=bearer(read))).status_code == 200


DAY = 86400


@pytest.mark.parametrize(("age", "works"), [(DAY - 1, True), (DAY, False), (DAY + 1, False)])
async def test_a_token_expires(
    client: QuartClient, script: QuartClient, age: int, works: bool
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_user(client)
        short = (await make_token(client, days=1))["token"]
        manual.advance(age)
        response = await script.get("/api/v1/posts", headers=bearer(short))
        if works:
            assert response.status_code == 200
        else:
            await assert_error(response, 401, "invalid_token")


async def test_revoking_takes_effect_on_the_next_request(
    client: QuartClient, script: QuartClient, token: str
) -> None:
    assert (await script.get("/api/v1/posts", headers=bearer(token))).status_code == 200
    [item] = await list_tokens(client)
    assert (await client.delete(f"/api/v1/tokens/{item['id']}")).status_code == 204
    response = await script.get("/api/v1/posts", headers=bearer(token))
    await assert_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


async def test_revoking_on_one_instance_holds_on_another(
    app_overrides: dict[str, str], client: QuartClient, token: str
) -> None:
    async with running_app(app_overrides) as other_instance:
        elsewhere = other_instance.test_client()
        assert (await elsewhere.get("/api/v1/me", headers=bearer(token))).status_code == 200
        [item] = await list_tokens(client)
        assert (await client.delete(f"/api/v1/tokens/{item['id']}")).status_code == 204
        await assert_error(await elsewhere.get("/api/v1/me", headers=bearer(token)), 401)


async def test_a_deleted_account_takes_its_tokens(
    app: Quart, script: QuartClient, token: str
) -> None:
    await sql(app, "DELETE FROM users WHERE username = 'alice'")
    await assert_error(await script.get("/api/v1/me", headers=bearer(token)), 401, "invalid_token")


def minute_of(value: str | None) -> datetime | None:
    """An API timestamp, to the second."""
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(microsecond=0)


async def test_last_used_is_written_at_most_once_a_minute(
    client: QuartClient, script: QuartClient
) -> None:
    start = clock.utcnow().replace(microsecond=0)
    with clock.use(ManualClock(start)) as manual:
        assert isinstance(manual, ManualClock)
        await api_user(client)
        made = await make_token(client)
        assert (await list_tokens(client))[0]["last_used_at"] is None
        seen = []
        for step in (0, 30, 29, 2, 10):  # at 0, 30, 59, 61 and 71 s
            manual.advance(step)
            assert (
                await script.get("/api/v1/me", headers=bearer(made["token"]))
            ).status_code == 200
            seen.append(minute_of((await list_tokens(client))[0]["last_used_at"]))
        t0 = start
        assert [None if t is None else (t - t0).total_seconds() for t in seen] == [0, 0, 0, 61, 61]


async def test_the_header_wins_over_a_valid_cookie(
    client: QuartClient, other_client: QuartClient
) -> None:
    await api_user(client)
    await api_user(other_client, "bob")
    await api_post(other_client, title="Bob's")
    bobs = (await make_token(other_client))["token"]
    # alice's browser holds a valid cookie; the header names bob's token: it is bob's request.
    me = await client.get("/api/v1/me", headers=bearer(bobs))
    assert (await me.get_json())["username"] == "bob"
    listed = await client.get("/api/v1/posts", headers=bearer(bobs))
    assert [item["title"] for item in (await listed.get_json())["items"]] == ["Bob's"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer qb_" + "A" * 43,  # well formed, but nobody's
        "Bearer",
        "Bearer ",
        "Bearer qb_short",
        "Bearer " + "A" * 46,
        "Bearer qb_" + "A" * 42 + "!",
        "Bearer qb_" + "A" * 44,
        "Bearer qb_" + "A" * 21 + " " + "A" * 21,
        "Basic YWxpY2U6c2VjcmV0",
        "Token qb_" + "A" * 43,
        "qb_" + "A" * 43,
        "",
    ],
)
async def test_a_bad_token_is_401_even_beside_a_valid_cookie(
    client: QuartClient, header: str
) -> None:
    await api_user(client)
    assert (await client.get("/api/v1/me")).status_code == 200  # the cookie alone works
    response = await client.get("/api/v1/me", headers={"Authorization": header})
    await assert_error(response, 401, "invalid_token")
    write = await client.post(
        "/api/v1/posts", json={"title": "T", "body": "B"}, headers={"Authorization": header}
    )
    await assert_error(write, 401, "invalid_token")


async def test_the_scheme_is_case_insensitive(script: QuartClient, token: str) -> None:
    for scheme in ("bearer", "BEARER", "Bearer"):
        headers = {"Authorization": f"{scheme}  {token} "}
        assert (await script.get("/api/v1/me", headers=headers)).status_code == 200


async def test_a_logged_out_cookie_does_not_help_a_bad_token(client: QuartClient) -> None:
    await api_user(client)
    assert (await client.post("/api/v1/logout", headers=JSON_HEADERS)).status_code == 204
    await assert_error(await client.get("/api/v1/me", headers=bearer("qb_" + "B" * 43)), 401)


async def test_no_csrf_check_with_a_token(script: QuartClient, token: str) -> None:
    # Cross-site headers refuse a cookie request; a token carries no ambient credential.
    headers = {**bearer(token), **CROSS_SITE}
    created = await script.post("/api/v1/posts", json={"title": "T", "body": "B"}, headers=headers)
    assert created.status_code == 201
    post_id = (await created.get_json())["id"]
    patched = await script.patch(f"/api/v1/posts/{post_id}", json={"body": "x"}, headers=headers)
    assert patched.status_code == 200
    deleted = await script.delete(f"/api/v1/posts/{post_id}", headers=headers)
    assert deleted.status_code == 204


async def test_the_cookie_still_gets_the_csrf_check(client: QuartClient, token: str) -> None:
    response = await client.post(
        "/api/v1/posts", json={"title": "T", "body": "B"}, headers=CROSS_SITE
    )
    await assert_error(response, 403, "csrf_failed")


async def test_bodies_are_still_json_only_with_a_token(script: QuartClient, token: str) -> None:
    headers = {**bearer(token), "Content-Type": "application/x-www-form-urlencoded"}
    response = await script.post("/api/v1/posts", data="title=x", headers=headers)
    await assert_error(response, 415)


async def test_pages_ignore_the_header(script: QuartClient, token: str) -> None:
    # Only the API takes tokens: a page asked with one is an anonymous visit.
    response = await script.get("/posts", headers=bearer(token))
    assert response.status_code in (302, 303)
    assert response.headers["Location"].startswith("/login")
    response = await script.get("/account/tokens", headers=bearer(token))
    assert response.status_code in (302, 303)


async def test_a_page_form_with_the_header_still_needs_its_csrf_token(
    client: QuartClient, token: str
) -> None:
    response = await client.post("/posts", form={"title": "t", "body": "b"}, headers=bearer(token))
    assert response.status_code == 403


async def test_a_token_never_logs_in_a_browser(app: Quart, script: QuartClient, token: str) -> None:
    await script.get("/api/v1/me", headers=bearer(token))
    assert script.cookie_jar is not None
    assert AUTH_COOKIE not in {cookie.name for cookie in script.cookie_jar}
    assert (await script.get("/api/v1/me")).status_code == 401
