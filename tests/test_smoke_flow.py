"""End-to-end happy path through the pages and the API."""

from __future__ import annotations

from quart.testing import QuartClient

from tests.factories import api_post, api_user, page_user, submit


async def test_api_register_login_post_list(client: QuartClient) -> None:
    user = await api_user(client)
    post = await api_post(client, title="  Hello  ")
    assert post["title"] == "Hello"
    response = await client.get("/api/v1/posts")
    body = await response.get_json()
    assert response.status_code == 200
    assert body == {"items": [post], "next": None}
    me = await (await client.get("/api/v1/me")).get_json()
    assert me == {**user, "email": None, "email_verified": False}


async def test_pages_create_and_show_post(client: QuartClient) -> None:
    await page_user(client)
    response = await submit(
        client, "/posts", {"title": "<b>bold</b>", "body": "<script>x</script>"}, "/posts/new"
    )
    assert response.status_code == 303
    page = await (await client.get(response.headers["Location"])).get_data(as_text=True)
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script>x</script>" not in page
