"""The API's posts: CRUD, ordering, keyset pagination, ownership isolation (SPEC §6, §7)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart.testing import QuartClient

from tests.api.helpers import all_post_ids, assert_error
from tests.factories import api_post, api_user

POST_KEYS = {"id", "title", "body", "created_at", "updated_at"}


def parse_utc(value: str) -> datetime:
    """Parse an API timestamp, insisting on ISO 8601 UTC with a ``Z``."""
    assert value.endswith("Z"), value
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), value
    return moment


async def test_create_returns_post_shape(client: QuartClient) -> None:
    await api_user(client)
    before = datetime.now(UTC)
    response = await client.post("/api/v1/posts", json={"title": "  Hi there  ", "body": "Body."})
    assert response.status_code == 201
    post = await response.get_json()
    assert set(post) == POST_KEYS
    assert isinstance(post["id"], int) and post["id"] >= 1
    assert post["title"] == "Hi there"
    assert post["body"] == "Body."
    created = parse_utc(post["created_at"])
    assert before - timedelta(seconds=5) <= created <= datetime.now(UTC) + timedelta(seconds=5)
    assert parse_utc(post["updated_at"]) == created


@pytest.mark.parametrize(
    ("title", "body"),
    [
        ("t" * 200, "b"),
        (" " + "t" * 200 + " ", "b"),
        ("t", "b" * 20_000),
        ("héllo ✓ 🎉", "<b>&</b>"),
    ],
    ids=["title-200", "title-200-after-trim", "body-20000", "unicode-and-markup"],
)
async def test_create_edge_values_round_trip(client: QuartClient, title: str, body: str) -> None:
    await api_user(client)
    post = await api_post(client, title, body)
    fetched = await (await client.get(f"/api/v1/posts/{post['id']}")).get_json()
    assert fetched == post
    assert (fetched["title"], fetched["body"]) == (title.strip(), body)


async def test_index_newest_first(client: QuartClient) -> None:
    await api_user(client)
    posts = [await api_post(client, f"post {n}") for n in range(3)]
    response = await client.get("/api/v1/posts")
    assert response.status_code == 200
    assert await response.get_json() == {"items": posts[::-1], "next": None}


async def test_index_empty(client: QuartClient) -> None:
    await api_user(client)
    assert await (await client.get("/api/v1/posts")).get_json() == {"items": [], "next": None}


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "1.5", ""])
async def test_index_limit_out_of_range_rejected(client: QuartClient, limit: str) -> None:
    await api_user(client)
    await assert_error(await client.get(f"/api/v1/posts?limit={limit}"), {400, 422})


@pytest.mark.parametrize("limit", [1, 100])
async def test_index_limit_bounds_accepted(client: QuartClient, limit: int) -> None:
    await api_user(client)
    posts = [await api_post(client, f"post {n}") for n in range(2)]
    page = await (await client.get(f"/api/v1/posts?limit={limit}")).get_json()
    assert page["items"] == posts[::-1][:limit]
    assert page["next"] == (posts[1]["id"] if limit == 1 else None)


async def test_index_default_limit_20(client: QuartClient) -> None:
    await api_user(client)
    for n in range(21):
        await api_post(client, f"post {n}")
    page = await (await client.get("/api/v1/posts")).get_json()
    assert len(page["items"]) == 20
    assert page["next"] == page["items"][-1]["id"]


async def test_index_keyset_walk_covers_all_once(client: QuartClient) -> None:
    await api_user(client)
    created = [(await api_post(client, f"post {n}"))["id"] for n in range(45)]
    seen: list[int] = []
    sizes: list[int] = []
    url = "/api/v1/posts?limit=20"
    while True:
        response = await client.get(url)
        assert response.status_code == 200
        page: dict[str, Any] = await response.get_json()
        sizes.append(len(page["items"]))
        seen.extend(item["id"] for item in page["items"])
        if page["next"] is None:
            break
        assert page["next"] == seen[-1]
        url = f"/api/v1/posts?limit=20&before={page['next']}"
    assert sizes == [20, 20, 5]
    assert seen == sorted(created, reverse=True)


async def test_detail_returns_post(client: QuartClient) -> None:
    await api_user(client)
    post = await api_post(client)
    response = await client.get(f"/api/v1/posts/{post['id']}")
    assert response.status_code == 200
    assert await response.get_json() == post


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"title": "  New title "}, {"title": "New title", "body": "Old body"}),
        ({"body": "New body"}, {"title": "Old title", "body": "New body"}),
        ({"title": "T2", "body": "B2"}, {"title": "T2", "body": "B2"}),
    ],
    ids=["title-only", "body-only", "both"],
)
async def test_patch_changes_only_given_fields(
    client: QuartClient, changes: dict[str, str], expected: dict[str, str]
) -> None:
    await api_user(client)
    post = await api_post(client, "Old title", "Old body")
    await asyncio.sleep(0.01)
    response = await client.patch(f"/api/v1/posts/{post['id']}", json=changes)
    assert response.status_code == 200
    patched = await response.get_json()
    assert set(patched) == POST_KEYS
    assert {"title": patched["title"], "body": patched["body"]} == expected
    assert (patched["id"], patched["created_at"]) == (post["id"], post["created_at"])
    assert parse_utc(patched["updated_at"]) > parse_utc(post["updated_at"])
    assert await (await client.get(f"/api/v1/posts/{post['id']}")).get_json() == patched


async def test_delete_removes_post(client: QuartClient) -> None:
    await api_user(client)
    keep = await api_post(client, "keep")
    gone = await api_post(client, "gone")
    response = await client.delete(f"/api/v1/posts/{gone['id']}")
    assert response.status_code == 204
    assert await response.get_data() == b""
    await assert_error(await client.get(f"/api/v1/posts/{gone['id']}"), 404)
    await assert_error(await client.delete(f"/api/v1/posts/{gone['id']}"), 404)
    assert await all_post_ids(client) == [keep["id"]]


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting what is handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.handed: list[object] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.handed.append(fn)
        return super().submit(fn, *args, **kwargs)


async def test_empty_answers_never_go_through_a_thread(client: QuartClient) -> None:
    """A 204 is bytes, not an iterable: Quart reads iterables in ``run_in_executor``."""
    await api_user(client)
    post = await api_post(client, "gone")
    executor = CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    deleted = await client.delete(f"/api/v1/posts/{post['id']}")
    logged_out = await client.post("/api/v1/logout")
    assert (deleted.status_code, logged_out.status_code) == (204, 204)
    assert await deleted.get_data() == await logged_out.get_data() == b""
    assert executor.handed == []


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_missing_id_404(client: QuartClient, method: str) -> None:
    await api_user(client)
    post = await api_post(client)
    response = await client.open(
        f"/api/v1/posts/{post['id'] + 1000}", method=method, json={"title": "x"}
    )
    await assert_error(response, 404, "not_found")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_other_users_post_404_and_unchanged(
    client: QuartClient, other_client: QuartClient, method: str
) -> None:
    await api_user(client, "alice")
    post = await api_post(client, "Alice's", "private")
    await api_user(other_client, "bob")
    own = await api_post(other_client, "Bob's")
    url = f"/api/v1/posts/{post['id']}"
    foreign = await other_client.open(url, method=method, json={"title": "pwned"})
    foreign_error = await assert_error(foreign, 404)
    missing = await other_client.open(
        f"/api/v1/posts/{post['id'] + 1000}", method=method, json={"title": "pwned"}
    )
    assert foreign_error == await assert_error(missing, 404)  # indistinguishable from missing
    assert await all_post_ids(other_client) == [own["id"]]
    assert await (await client.get(url)).get_json() == post
    assert await all_post_ids(client) == [post["id"]]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/me", None),
        ("POST", "/api/v1/logout", None),
        ("POST", "/api/v1/password", {"current_password": "x" * 8, "new_password": "y" * 8}),
        ("GET", "/api/v1/posts", None),
        ("POST", "/api/v1/posts", {"title": "t", "body": "b"}),
        ("GET", "/api/v1/posts/{id}", None),
        ("PATCH", "/api/v1/posts/{id}", {"title": "t"}),
        ("DELETE", "/api/v1/posts/{id}", None),
    ],
)
async def test_routes_anonymous_401(
    client: QuartClient,
    other_client: QuartClient,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    await api_user(client)
    post = await api_post(client)
    url = path.format(id=post["id"])
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    await assert_error(await other_client.open(url, method=method, **kwargs), 401, "unauthorized")
    assert await all_post_ids(client) == [post["id"]]
    assert await (await client.get(f"/api/v1/posts/{post['id']}")).get_json() == post


async def test_delete_racing_twice_one_wins(client: QuartClient) -> None:
    await api_user(client)
    post = await api_post(client)
    url = f"/api/v1/posts/{post['id']}"
    first, second = await asyncio.gather(client.delete(url), client.delete(url))
    assert sorted([first.status_code, second.status_code]) == [204, 404]
    loser = first if first.status_code == 404 else second
    await assert_error(loser, 404)
    assert await all_post_ids(client) == []
