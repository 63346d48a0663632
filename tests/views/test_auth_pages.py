"""Register, log in, log out and the home page (SPEC §5, §7, §8)."""

from __future__ import annotations

import pytest
from quart import Quart
from quart.testing import QuartClient

from tests.factories import (
    CSRF_RE,
    PASSWORD,
    api_post,
    api_register,
    csrf_token,
    form_login,
    submit,
)
from tests.views.helpers import (
    Tags,
    auth_cookie_name,
    cookie_attributes,
    is_logged_in,
    login_redirect_next,
    set_cookie,
    sql,
    text_of,
)

HOSTILE_NEXT = [
    "http://example.com",
    "https://example.com",
    "ftp://example.com",
    "//example.com",
    "///example.com",
    "\\\\example.com",
    "\\/example.com",
    "/\\example.com",
    "/\\//example.com",
    "\\\\//example.com",
    "http:///example.com",
    "http:/example.com",
    "https:/example.com",
    "http:\\\\example.com",
    "http://localhost\\@example.com",
    "http:999999999",
    "javascript:alert(1)",
    " //example.com",
    "\t//example.com",
    "/\t/example.com",
    "/\n/example.com",
    "/\r/example.com",
    "\n",
    "posts",
]


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        (
            "/register",
            {"username": "username", "password": "new-password", "confirm": "new-password"},
        ),
        ("/login", {"username": "username", "password": "current-password", "remember": None}),
    ],
)
async def test_form_page_fields_labelled(
    client: QuartClient, path: str, fields: dict[str, str | None]
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    tags = Tags(await text_of(response))
    labels = {attrs.get("for") for attrs in tags.named("label")}
    for name, autocomplete in fields.items():
        field = tags.field(name)
        assert field is not None, name
        assert field.get("id") in labels, f"{name} has no <label for>"
        if autocomplete is not None:
            assert field.get("autocomplete") == autocomplete
    remember = tags.field("remember")
    assert remember is None or remember.get("type") == "checkbox"
    token = tags.field("csrf_token")
    assert token is not None and token.get("type") == "hidden" and token.get("value")


async def test_register_success_redirects_with_flash(client: QuartClient) -> None:
    form = {"username": "alice", "password": PASSWORD, "confirm": PASSWORD}
    response = await submit(client, "/register", form, "/register")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    page = await text_of(await client.get("/login"))
    assert "Account created" in page
    assert (await form_login(client)).status_code == 303


@pytest.mark.parametrize(
    ("username", "password", "confirm"),
    [
        ("al", PASSWORD, PASSWORD),
        ("a" * 33, PASSWORD, PASSWORD),
        ("bad name", PASSWORD, PASSWORD),
        ("<script>alert(1)</script>", PASSWORD, PASSWORD),
        ("alice", "short", "short"),
        ("alice", PASSWORD, PASSWORD + "x"),
        ("alice", "x" * 1025, "x" * 1025),
    ],
)
async def test_register_invalid_input_400(
    app: Quart, client: QuartClient, username: str, password: str, confirm: str
) -> None:
    form = {"username": username, "password": password, "confirm": confirm}
    response = await submit(client, "/register", form, "/register")
    page = await text_of(response)
    assert response.status_code == 400
    assert Tags(page).field("confirm") is not None
    assert 'role="alert"' in page
    assert "<script>alert(1)</script>" not in page
    assert await sql(app, "SELECT id FROM users") == []


@pytest.mark.parametrize("taken", ["alice", "ALICE", "Alice"])
async def test_register_taken_any_case_409(client: QuartClient, taken: str) -> None:
    await api_register(client, "alice")
    form = {"username": taken, "password": PASSWORD, "confirm": PASSWORD}
    response = await submit(client, "/register", form, "/register")
    assert response.status_code == 409
    assert Tags(await text_of(response)).field("username") is not None


@pytest.mark.parametrize(
    ("next_value", "location"),
    [
        (None, "/posts"),
        ("/posts/new", "/posts/new"),
        ("/account?tab=sessions&x=1", "/account?tab=sessions&x=1"),
    ],
)
async def test_login_success_redirects(
    client: QuartClient, next_value: str | None, location: str
) -> None:
    await api_register(client)
    form = {"username": "alice", "password": PASSWORD}
    if next_value is not None:
        form["next"] = next_value
    response = await submit(client, "/login", form)
    assert response.status_code == 303
    assert response.headers["Location"] == location


async def test_login_next_from_query_string(client: QuartClient) -> None:
    await api_register(client)
    token = await csrf_token(client, "/login?next=/posts/new")
    response = await client.post(
        "/login",
        form={"username": "alice", "password": PASSWORD, "csrf_token": token},
        query_string={"next": "/posts/new?x=1"},
    )
    assert response.headers["Location"] == "/posts/new?x=1"


@pytest.mark.parametrize("hostile", HOSTILE_NEXT)
@pytest.mark.parametrize("via", ["form", "query"])
async def test_login_hostile_next_goes_to_posts(
    client: QuartClient, hostile: str, via: str
) -> None:
    await api_register(client)
    token = await csrf_token(client, "/login")
    form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    if via == "form":
        response = await client.post("/login", form={**form, "next": hostile})
    else:
        response = await client.post("/login", form=form, query_string={"next": hostile})
    assert response.status_code == 303
    assert response.headers["Location"] == "/posts"


async def test_login_form_page_drops_hostile_next(client: QuartClient) -> None:
    page = await text_of(await client.get("/login", query_string={"next": "//example.com"}))
    assert "example.com" not in page


async def test_login_encoded_tab_next_stays_on_site(client: QuartClient) -> None:
    await api_register(client)
    form = {"username": "alice", "password": PASSWORD, "next": "/%09/example.com"}
    response = await submit(client, "/login", form)
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))


async def test_login_bad_credentials_one_generic_message(client: QuartClient) -> None:
    await api_register(client, "alice")
    wrong = await form_login(client, "alice", "wrong password!")
    unknown = await form_login(client, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    pages = []
    for response, name in ((wrong, "alice"), (unknown, "nobody")):
        page = CSRF_RE.sub("TOKEN", await text_of(response)).replace(name, "NAME")
        assert Tags(page).field("password") is not None
        pages.append(page)
    assert pages[0] == pages[1]
    assert not await is_logged_in(client)


async def test_home_anonymous_redirects_to_login(client: QuartClient) -> None:
    response = await client.get("/")
    assert response.status_code in (302, 303)
    assert login_redirect_next(response) == "/"


async def test_home_logged_in_greets(client: QuartClient) -> None:
    await api_register(client, "alice_1")
    await form_login(client, "alice_1")
    page = await text_of(await client.get("/"))
    assert "Hello, alice_1! You are logged in." in page
    hrefs = {attrs.get("href") for attrs in Tags(page).named("a")}
    assert {"/posts", "/logout"} <= hrefs


async def test_logout_get_shows_button_keeps_session(client: QuartClient) -> None:
    await api_register(client)
    await form_login(client)
    response = await client.get("/logout")
    tags = Tags(await text_of(response))
    assert response.status_code == 200
    assert any(
        f.get("action") == "/logout" and f.get("method") == "post" for f in tags.named("form")
    )
    assert tags.named("button") or tags.field("submit") is not None
    assert await is_logged_in(client)


async def test_logout_post_revokes_copied_cookie(
    app: Quart, client: QuartClient, other_client: QuartClient
) -> None:
    await api_register(client)
    await form_login(client)
    name = auth_cookie_name(app)
    assert client.cookie_jar is not None
    stolen = next(cookie.value for cookie in client.cookie_jar if cookie.name == name)
    other_client.set_cookie("localhost", name, stolen or "")
    assert await is_logged_in(other_client)
    response = await submit(client, "/logout", {}, "/logout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert not await is_logged_in(client)
    assert not await is_logged_in(other_client)


@pytest.mark.parametrize("remember", [True, False])
async def test_login_cookie_lifetime(app: Quart, client: QuartClient, remember: bool) -> None:
    await api_register(client)
    response = await form_login(client, remember=remember)
    header = set_cookie(response, auth_cookie_name(app))
    assert header is not None
    attributes = cookie_attributes(header)
    assert "httponly" in attributes
    assert attributes.get("samesite", "").lower() == "lax"
    if remember:
        assert attributes.get("max-age") == str(30 * 24 * 3600)
    else:
        assert "max-age" not in attributes and "expires" not in attributes


async def test_anonymous_home_redirects_to_login_with_plain_next(client: QuartClient) -> None:
    response = await client.get("/")
    assert response.status_code in (302, 303)
    assert response.headers["Location"] == "/login?next=/"
    nested = await client.get("/posts?before=5")
    assert nested.headers["Location"] == "/login?next=/posts%3Fbefore%3D5"


@pytest.mark.parametrize(
    ("form", "bad", "kept"),
    [
        ({"username": "x"}, "username", True),
        ({"email": "not an address"}, "email", True),
        ({"password": "short", "confirm": "short"}, "password", False),
        ({"confirm": "something else entirely"}, "confirm", False),
    ],
)
async def test_register_error_marks_the_bad_field_and_keeps_what_it_can(
    client: QuartClient, form: dict[str, str], bad: str, kept: bool
) -> None:
    typed = {"username": "alice", "password": PASSWORD, "confirm": PASSWORD, "email": "", **form}
    response = await submit(client, "/register", typed, "/register")
    assert response.status_code == 400
    tags = Tags(await text_of(response))
    marked = [t["name"] for t in tags.named("input") if t.get("aria-invalid") == "true"]
    assert marked == [bad]
    field = tags.field(bad)
    assert field is not None and "form-error" in field["aria-describedby"].split()
    assert "autofocus" in field
    assert [t["name"] for t in tags.named("input") if "autofocus" in t] == [bad]
    # The passwords survive an error about another field, never one about themselves.
    assert (tags.field("password")["value"] == typed["password"]) is kept  # type: ignore[index]


async def test_failed_login_keeps_the_name_and_focuses_the_password(client: QuartClient) -> None:
    await api_register(client)
    response = await submit(client, "/login", {"username": "alice", "password": "wrong one!"})
    assert response.status_code == 401
    tags = Tags(await text_of(response))
    assert tags.field("username")["value"] == "alice"  # type: ignore[index]
    assert [t["name"] for t in tags.named("input") if "autofocus" in t] == ["password"]
    # One generic message: no field is singled out as the wrong one.
    assert not [t for t in tags.named("input") if t.get("aria-invalid")]
    fresh = Tags(await text_of(await client.get("/login")))
    assert [t["name"] for t in fresh.named("input") if "autofocus" in t] == ["username"]


async def test_first_login_is_welcome_and_later_ones_welcome_back(client: QuartClient) -> None:
    await api_register(client)
    first = await form_login(client)
    assert "Welcome, alice!" in await text_of(await client.get(first.headers["Location"]))
    await client.post("/logout", form={"csrf_token": await csrf_token(client, "/logout")})
    again = await form_login(client)
    assert "Welcome back, alice!" in await text_of(await client.get(again.headers["Location"]))


async def test_home_shows_the_latest_posts_and_a_way_to_write(client: QuartClient) -> None:
    await api_register(client)
    await form_login(client)
    empty = await text_of(await client.get("/"))
    assert "Hello, alice! You are logged in." in empty  # SPEC §5
    assert 'href="/posts/new"' in empty and "No posts yet" in empty
    for n in range(7):
        await api_post(client, title=f"Post <{n}>")
    home = await text_of(await client.get("/"))
    titles = [f"Post &lt;{n}&gt;" for n in range(6, 1, -1)]  # the five newest, newest first
    assert [home.index(t) for t in titles] == sorted(home.index(t) for t in titles)
    assert "Post &lt;1&gt;" not in home and "See all your posts" in home
