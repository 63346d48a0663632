"""Where a token may go (SPEC §14), checked over ``app.url_map``.

Every ``/api/v1`` rule is either on ``tokens.policy``'s allow-list or answers 403
``token_not_allowed`` to a valid write token, before anything changes; and the allow-list
is exactly what SPEC §14 opens: the GETs under ``/api/v1/me`` but ``/api/v1/me/2fa…``,
and ``/api/v1/posts…``.
"""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Rule

from quart_blog import create_app
from quart_blog.tokens.policy import TOKEN_ENDPOINTS
from tests.api.helpers import assert_error
from tests.factories import SECRET_KEY, api_post, api_user
from tests.tokens.helpers import bearer, make_token
from tests.views.helpers import snapshot, sql

ALL_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def api_rules() -> list[Rule]:
    """The app's ``/api/v1`` rules; building the app opens no database."""
    app = create_app(
        {"DATABASE_URL": "sqlite+aiosqlite:///unused/blog.db", "SECRET_KEY": SECRET_KEY}
    )
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")]
    return sorted(rules, key=lambda rule: (rule.rule, rule.endpoint))


def calls(rules: list[Rule]) -> list[Any]:
    """``(rule, method)`` params for every method a client would send to each rule."""
    return [
        pytest.param(rule, method, id=f"{method} {rule.rule}")
        for rule in rules
        for method in sorted((rule.methods or set()) & ALL_METHODS)
    ]


API_RULES = api_rules()
CLOSED = [rule for rule in API_RULES if rule.endpoint not in TOKEN_ENDPOINTS]
# Routes SPEC §14 names as never reachable by a token, whether or not they exist yet.
ACCOUNT_SECURITY = [
    ("POST", "/api/v1/register"),
    ("POST", "/api/v1/login"),
    ("POST", "/api/v1/logout"),
    ("POST", "/api/v1/password"),
    ("PUT", "/api/v1/me/email"),
    ("POST", "/api/v1/reauth"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/1"),
    ("GET", "/api/v1/me/2fa"),
    ("POST", "/api/v1/me/2fa/totp"),
    ("POST", "/api/v1/me/2fa/totp/confirm"),
    ("DELETE", "/api/v1/me/2fa/totp"),
    ("POST", "/api/v1/me/2fa/recovery-codes"),
    ("POST", "/api/v1/login/2fa"),
    ("GET", "/api/v1/passkeys"),
    ("POST", "/api/v1/passkeys"),
    ("DELETE", "/api/v1/passkeys/1"),
    ("POST", "/api/v1/passkeys/register/options"),
    ("DELETE", "/api/v1/me"),
    ("POST", "/api/v1/email/verify"),
    ("POST", "/api/v1/password/forgot"),
    ("POST", "/api/v1/password/reset"),
]


def spec_opens(rule: Rule) -> bool:
    """What SPEC §14 opens to tokens: GETs under /api/v1/me (not /me/2fa), all of /posts."""
    path = rule.rule
    if path == "/api/v1/posts" or path.startswith("/api/v1/posts/"):
        return True
    under_me = path == "/api/v1/me" or path.startswith("/api/v1/me/")
    second_factor = path == "/api/v1/me/2fa" or path.startswith("/api/v1/me/2fa/")
    return under_me and not second_factor and "GET" in (rule.methods or set())


def filled(rule: Rule, post_id: int, token_id: int) -> str:
    """The rule's URL with an existing post and token of the user as its ids (else 1)."""
    values = {"post_id": post_id, "token_id": token_id}
    path = rule.rule
    for name in rule.arguments:
        for form in (f"<{name}>", f"<id:{name}>", f"<int:{name}>", f"<string:{name}>"):
            path = path.replace(form, str(values.get(name, 1)))
    assert "<" not in path, path
    return path


def test_the_allow_list_names_real_api_endpoints() -> None:
    assert {rule.endpoint for rule in API_RULES} >= TOKEN_ENDPOINTS


def test_the_allow_list_is_what_the_spec_opens() -> None:
    opened = {rule.endpoint for rule in API_RULES if spec_opens(rule)}
    assert opened == TOKEN_ENDPOINTS, (
        "SPEC §14 opens to tokens every GET under /api/v1/me (but /me/2fa) and all of "
        "/api/v1/posts: add or remove the endpoint in quart_blog/tokens/policy.py"
    )


def test_under_me_the_allow_list_opens_only_reads() -> None:
    for rule in API_RULES:
        if rule.endpoint in TOKEN_ENDPOINTS and rule.rule.startswith("/api/v1/me"):
            assert (rule.methods or set()) <= {"GET", "HEAD", "OPTIONS"}, rule


@pytest.mark.parametrize(("rule", "method"), calls(CLOSED))
async def test_every_other_api_route_refuses_a_write_token(
    app: Quart, client: QuartClient, rule: Rule, method: str
) -> None:
    await api_user(client)
    post = await api_post(client)
    made = await make_token(client, scope="write")
    path = filled(rule, post["id"], made["id"])
    before = await snapshot(app)
    tokens_before = await sql(app, "SELECT * FROM api_tokens ORDER BY id")
    script = app.test_client()
    response = await script.open(path, method=method, json={}, headers=bearer(made["token"]))
    await assert_error(response, 403, "token_not_allowed")
    # The same with the owner's valid cookie beside the token: the header still decides.
    response = await client.open(path, method=method, json={}, headers=bearer(made["token"]))
    await assert_error(response, 403, "token_not_allowed")
    assert await snapshot(app) == before
    assert await sql(app, "SELECT * FROM api_tokens ORDER BY id") == tokens_before


def routed(app: Quart, method: str, path: str) -> bool:
    """Whether the app has a route for ``method`` on ``path``."""
    adapter = app.url_map.bind("localhost")
    try:
        adapter.match(path, method=method)
    except (NotFound, MethodNotAllowed):
        return False
    return True


@pytest.mark.parametrize(("method", "path"), ACCOUNT_SECURITY)
async def test_account_security_routes_refuse_a_token(
    app: Quart, client: QuartClient, method: str, path: str
) -> None:
    if not routed(app, method, path):
        pytest.skip(f"{method} {path} is not built yet")
    await api_user(client)
    made = await make_token(client, scope="write")
    for token in (made["token"], "qb_" + "A" * 43, "not a token"):
        response = await app.test_client().open(
            path, method=method, json={"password": "x"}, headers=bearer(token)
        )
        await assert_error(response, 403, "token_not_allowed")


async def test_a_token_on_an_unknown_route_is_a_plain_404(client: QuartClient) -> None:
    await api_user(client)
    made: dict[str, Any] = await make_token(client)
    response = await client.get("/api/v1/nothing-here", headers=bearer(made["token"]))
    await assert_error(response, 404)
    response = await client.put("/api/v1/posts", json={}, headers=bearer(made["token"]))
    await assert_error(response, 405)
