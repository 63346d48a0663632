"""The post pages: list, create, show, edit, delete, ownership and escaping (SPEC §5, §7)."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient

from tests.factories import api_post, api_register, form_login, page_user, submit
from tests.views.helpers import Tags, post_ids, snapshot, sql, text_of

HUGE_ID = "99999999999999999999999"
SCRIPT = "<script>alert(1)</script>"


async def own_posts(client: QuartClient) -> list[dict[str, Any]]:
    """The logged-in user's posts, through the API."""
    body: dict[str, Any] = await (await client.get("/api/v1/posts?limit=100")).get_json()
    return list(body["items"])


async def test_index_newest_first_paginated(client: QuartClient) -> None:
    await page_user(client)
    made = [(await api_post(client, title=f"Post {n:02}"))["id"] for n in range(25)]
    newest_first = made[::-1]
    first = await client.get("/posts")
    page = await text_of(first)
    assert first.status_code == 200
    assert post_ids(page) == newest_first[:20]
    older = [a["href"] for a in Tags(page).named("a") if "before=" in a.get("href", "")]
    assert older == [f"/posts?before={newest_first[19]}"]
    second = await text_of(await client.get(older[0]))
    assert post_ids(second) == newest_first[20:]
    assert "before=" not in second


async def test_index_shows_only_own_posts(client: QuartClient, other_client: QuartClient) -> None:
    await page_user(client, "alice")
    await page_user(other_client, "bob")
    mine = await api_post(client, title="Alice writes")
    await api_post(other_client, title="Bob writes")
    page = await text_of(await client.get("/posts"))
    assert post_ids(page) == [mine["id"]]
    assert "Bob writes" not in page


@pytest.mark.parametrize("before", ["abc", HUGE_ID, "0", "-1", "1.5", "\uff11"])
async def test_index_bad_before_400(client: QuartClient, before: str) -> None:
    await page_user(client)
    response = await client.get("/posts", query_string={"before": before})
    assert response.status_code == 400
    assert response.mimetype == "text/html"


async def test_new_shows_form(client: QuartClient) -> None:
    await page_user(client)
    tags = Tags(await text_of(await client.get("/posts/new")))
    assert tags.field("title") is not None and tags.field("body") is not None
    assert tags.field("csrf_token") is not None


async def test_create_redirects_to_post(client: QuartClient) -> None:
    await page_user(client)
    form = {"title": "  Hello  ", "body": "First body"}
    response = await submit(client, "/posts", form, "/posts/new")
    assert response.status_code == 303
    [post] = await own_posts(client)
    assert response.headers["Location"] == f"/posts/{post['id']}"
    assert (post["title"], post["body"]) == ("Hello", "First body")
    page = await text_of(await client.get(response.headers["Location"]))
    assert "Hello" in page and "First body" in page


@pytest.mark.parametrize(
    "form",
    [
        {"title": "", "body": "text"},
        {"title": "   ", "body": "text"},
        {"title": "x" * 201, "body": "text"},
        {"title": "Title", "body": ""},
        {"title": "Title", "body": "   "},
        {"title": "Title", "body": "x" * 20_001},
        {"title": "Title"},
        {"body": "text"},
    ],
)
async def test_create_invalid_400_with_form(client: QuartClient, form: dict[str, str]) -> None:
    await page_user(client)
    response = await submit(client, "/posts", form, "/posts/new")
    assert response.status_code == 400
    assert Tags(await text_of(response)).field("title") is not None
    assert await own_posts(client) == []


async def test_detail_shows_post(client: QuartClient) -> None:
    await page_user(client)
    post = await api_post(client, title="Shown title", body="Shown body")
    response = await client.get(f"/posts/{post['id']}")
    page = await text_of(response)
    assert response.status_code == 200
    assert "Shown title" in page and "Shown body" in page


async def test_edit_form_prefilled(client: QuartClient) -> None:
    await page_user(client)
    post = await api_post(client, title="Old title", body="Old body")
    page = await text_of(await client.get(f"/posts/{post['id']}/edit"))
    title = Tags(page).field("title")
    assert title is not None and title.get("value") == "Old title"
    assert "Old body" in page


async def test_edit_saves_changes(client: QuartClient) -> None:
    await page_user(client)
    post = await api_post(client)
    path = f"/posts/{post['id']}/edit"
    response = await submit(client, path, {"title": " New ", "body": "New body"}, path)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/posts/{post['id']}"
    [saved] = await own_posts(client)
    assert (saved["title"], saved["body"]) == ("New", "New body")


async def test_edit_invalid_400_unchanged(client: QuartClient) -> None:
    await page_user(client)
    post = await api_post(client)
    path = f"/posts/{post['id']}/edit"
    response = await submit(client, path, {"title": "  ", "body": "New body"}, path)
    assert response.status_code == 400
    assert Tags(await text_of(response)).field("body") is not None
    assert await own_posts(client) == [post]


async def test_delete_asks_first_and_a_get_deletes_nothing(client: QuartClient) -> None:
    await page_user(client)
    post = await api_post(client, title="Keep <me> safe")
    detail = await text_of(await client.get(f"/posts/{post['id']}"))
    assert f'href="/posts/{post["id"]}/delete"' in detail
    assert 'action="/posts/' not in detail  # no one-click delete form on the post itself
    confirm = await client.get(f"/posts/{post['id']}/delete")
    assert confirm.status_code == 200
    html = await text_of(confirm)
    assert "Keep &lt;me&gt; safe" in html
    tags = Tags(html)
    assert {
        "method": "post",
        "action": f"/posts/{post['id']}/delete",
        "class": "card",
    } in tags.named("form")
    assert await own_posts(client) == [post]


async def test_delete_redirects_to_index(client: QuartClient) -> None:
    await page_user(client)
    post = await api_post(client)
    response = await submit(client, f"/posts/{post['id']}/delete", {}, "/posts/new")
    assert response.status_code == 303
    assert response.headers["Location"] == "/posts"
    assert (await client.get(f"/posts/{post['id']}")).status_code == 404
    assert await own_posts(client) == []


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/edit"), ("POST", "/edit"), ("GET", "/delete"), ("POST", "/delete")],
)
async def test_other_users_post_404(
    app: Quart, client: QuartClient, other_client: QuartClient, method: str, suffix: str
) -> None:
    await page_user(client, "alice")
    post = await api_post(client, title="Private", body="Alice only")
    await page_user(other_client, "bob")
    before = await snapshot(app)
    path = f"/posts/{post['id']}{suffix}"
    if method == "GET":
        response = await other_client.get(path)
    else:
        form = {"title": "Hacked", "body": "Hacked"}
        response = await submit(other_client, path, form, "/posts/new")
    assert response.status_code == 404
    assert "Private" not in await text_of(response)
    assert await snapshot(app) == before
    assert await own_posts(client) == [post]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/posts/{HUGE_ID}"),
        ("GET", f"/posts/{HUGE_ID}/edit"),
        ("POST", f"/posts/{HUGE_ID}/edit"),
        ("GET", f"/posts/{HUGE_ID}/delete"),
        ("POST", f"/posts/{HUGE_ID}/delete"),
        ("GET", "/posts/0"),
        ("GET", "/posts/12345"),
    ],
)
async def test_missing_post_404(client: QuartClient, method: str, path: str) -> None:
    await page_user(client)
    if method == "GET":
        response = await client.get(path)
    else:
        response = await submit(client, path, {"title": "t", "body": "b"}, "/posts/new")
    assert response.status_code == 404


async def test_pages_escape_user_text(app: Quart, client: QuartClient) -> None:
    await api_register(client, "mallory")
    await sql(app, "UPDATE users SET username = :name", name=f"m{SCRIPT}")
    await form_login(client, "mallory")
    post = await api_post(client, title=f"T{SCRIPT}", body=f"B{SCRIPT}")
    for path in ("/", "/posts", f"/posts/{post['id']}", f"/posts/{post['id']}/edit", "/account"):
        response = await client.get(path)
        page = await text_of(response)
        assert response.status_code == 200, path
        assert SCRIPT not in page, path
        assert "&lt;script&gt;" in page, path


async def test_form_errors_escape_input(client: QuartClient) -> None:
    await page_user(client)
    response = await submit(client, "/posts", {"title": SCRIPT, "body": ""}, "/posts/new")
    assert response.status_code == 400
    assert SCRIPT not in await text_of(response)


async def test_pages_go_both_ways_and_say_where_they_are(client: QuartClient) -> None:
    await page_user(client)
    made = [(await api_post(client, title=f"Post {n:02}"))["id"] for n in range(45)]
    newest_first = made[::-1]
    first = await text_of(await client.get("/posts"))
    assert "Posts 1\u201320 of 45" in first and 'rel="prev"' not in first
    second_url = f"/posts?before={newest_first[19]}"
    second = await text_of(await client.get(second_url))
    assert post_ids(second) == newest_first[20:40]
    assert "Posts 21\u201340 of 45" in second
    back = [a["href"] for a in Tags(second).named("a") if a.get("rel") == "prev"]
    assert back == ["/posts"]  # the first page
    third_url = f"/posts?before={newest_first[39]}"
    third = await text_of(await client.get(third_url))
    assert "Posts 41\u201345 of 45" in third and 'rel="next"' not in third
    [back_to_second] = [a["href"] for a in Tags(third).named("a") if a.get("rel") == "prev"]
    assert post_ids(await text_of(await client.get(back_to_second))) == newest_first[20:40]


async def test_a_bad_page_link_says_so_in_words(client: QuartClient) -> None:
    await page_user(client)
    response = await client.get("/posts?before=abc")
    assert response.status_code == 400
    html = await text_of(response)
    assert "That page of posts does not exist" in html and "before must be" not in html
    assert 'href="/posts"' in html  # a way on


@pytest.mark.parametrize(("form", "bad"), [({"title": " "}, "title"), ({"body": " "}, "body")])
async def test_post_form_error_marks_the_bad_field(
    client: QuartClient, form: dict[str, str], bad: str
) -> None:
    await page_user(client)
    typed = {"title": "A title", "body": "A body", **form}
    response = await submit(client, "/posts", typed, "/posts/new")
    assert response.status_code == 400
    html = await text_of(response)
    tags = Tags(html)
    field = tags.field(bad)
    assert field is not None and field.get("aria-invalid") == "true"
    assert field["aria-describedby"] == "form-error" and 'id="form-error"' in html
    other = tags.field("body" if bad == "title" else "title")
    assert other is not None and "aria-invalid" not in other
