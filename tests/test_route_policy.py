"""Meta-tests over ``app.url_map``: every state change checks CSRF, every private route
needs login (SPEC §5, §6, §8)."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient
from werkzeug.routing import Rule

from quart_blog import create_app
from tests.factories import SECRET_KEY, api_post, api_register, csrf_token, form_login
from tests.views.helpers import login_redirect_next, snapshot

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC = frozenset(
    {
        "static",
        "openapi",
        "api_docs.page",
        "api_docs.asset",
        "health.healthz",
        "auth.register_form",
        "auth.register",
        "auth.login_form",
        "auth.login",
        "api.auth.register",
        "api.auth.login",
        "recovery.verify_email_form",
        "recovery.verify_email",
        "recovery.forgot_password_form",
        "recovery.forgot_password",
        "recovery.reset_password_form",
        "recovery.reset_password",
        "api.recovery.verify_email",
        "api.recovery.forgot_password",
        "api.recovery.reset_password",
    }
)
# Public pages a mailed link opens: without a live token they answer 400.
LINK_PAGES = frozenset({"recovery.verify_email_form", "recovery.reset_password_form"})
CROSS_SITE_HEADERS = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
]


def all_rules() -> list[Rule]:
    """The app's rules; building the app opens no database (that happens when serving)."""
    app = create_app(
        {"DATABASE_URL": "sqlite+aiosqlite:///unused/blog.db", "SECRET_KEY": SECRET_KEY}
    )
    return sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint))


RULES = all_rules()
ENDPOINTS = {rule.endpoint for rule in RULES}


def calls(rules: list[Rule], methods: frozenset[str]) -> list[Any]:
    """``(rule, method)`` params for every method of every rule that is in ``methods``."""
    return [
        pytest.param(rule, method, id=f"{method} {rule.rule}")
        for rule in rules
        for method in sorted((rule.methods or set()) & methods)
    ]


def url(rule: Rule, post_id: int) -> str:
    """The rule's URL with its parameters filled in (an existing post of the user)."""
    values = {"post_id": post_id, "filename": "style.css", "name": "swagger-ui.css"}
    path = rule.rule
    for name in rule.arguments:
        path = path.replace(f"<{name}>", str(values[name]))
        for converter in ("id", "int", "path", "string"):
            path = path.replace(f"<{converter}:{name}>", str(values[name]))
    assert "<" not in path, path
    return path


async def logged_in_post(client: QuartClient) -> int:
    """alice logged in on ``client`` through the form; the id of a post of hers."""
    await api_register(client)
    await form_login(client)
    post: dict[str, Any] = await api_post(client)
    return int(post["id"])


def test_public_set_names_real_endpoints() -> None:
    assert ENDPOINTS >= PUBLIC


def test_state_changing_routes_exist() -> None:
    assert calls(RULES, STATE_CHANGING)


@pytest.mark.parametrize(("rule", "method"), calls(RULES, STATE_CHANGING))
async def test_state_change_without_csrf_403(
    app: Quart, client: QuartClient, rule: Rule, method: str
) -> None:
    path = url(rule, await logged_in_post(client))
    before = await snapshot(app)
    if path.startswith("/api/"):
        for headers in CROSS_SITE_HEADERS:
            response = await client.open(path, method=method, json={}, headers=headers)
            assert response.status_code == 403, headers
            body = await response.get_json()
            assert body["error"]["code"]
    else:
        response = await client.open(path, method=method, form={"title": "t", "body": "b"})
        assert response.status_code == 403
        assert response.mimetype == "text/html"
    assert await snapshot(app) == before


@pytest.mark.parametrize(
    ("rule", "method"),
    calls([rule for rule in RULES if rule.endpoint not in PUBLIC], STATE_CHANGING | {"GET"}),
)
async def test_private_route_needs_login(
    client: QuartClient, other_client: QuartClient, rule: Rule, method: str
) -> None:
    path = url(rule, await logged_in_post(other_client))
    if path.startswith("/api/"):
        response = await client.open(path, method=method, json={})
        assert response.status_code == 401
        body = await response.get_json()
        assert body["error"]["code"]
        return
    form = None
    if method != "GET":
        form = {"title": "t", "body": "b", "csrf_token": await csrf_token(client, "/login")}
    response = await client.open(path, method=method, form=form)
    assert response.status_code in (302, 303)
    assert login_redirect_next(response) == path


@pytest.mark.parametrize(
    ("rule", "method"),
    calls([rule for rule in RULES if rule.endpoint in PUBLIC], frozenset({"GET"})),
)
async def test_public_page_open_anonymously(client: QuartClient, rule: Rule, method: str) -> None:
    response = await client.open(url(rule, 1), method=method)
    assert response.status_code == (400 if rule.endpoint in LINK_PAGES else 200)
