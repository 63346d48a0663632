"""Meta-tests over ``app.url_map``: every state change checks CSRF, every private route
needs login (SPEC §5, §6, §8), every sensitive action needs recent authentication (§13),
and every public form or call that takes a guess is rate limited (§8, §12, §13)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from quart import Quart
from quart.testing import QuartClient
from werkzeug.routing import Rule

from quart_blog import clock, create_app
from quart_blog.clock import ManualClock
from tests.factories import SECRET_KEY, api_post, api_register, csrf_token, form_login
from tests.views.helpers import login_redirect_next, snapshot, sql

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
        "api.passkeys.login_options",
        "api.passkeys.login",
        "mfa.login_form",
        "mfa.login",
        "api.mfa.login_second_factor",
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
    values["passkey_id"] = post_id  # any id: the checks come before the lookup
    values["token_id"] = post_id
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


# SPEC §13: what needs a password, code or passkey check within REAUTH_SECONDS. (Changing
# the password or the address and deleting the account ask for the password themselves.)
SENSITIVE = frozenset(
    {
        "account.revoke_sessions",
        "mfa.start_totp",
        "mfa.confirm_totp",
        "mfa.disable_totp",
        "mfa.regenerate_codes",
        "passkeys.remove",
        "tokens.create",
        "api.mfa.start_totp",
        "api.mfa.confirm_totp",
        "api.mfa.disable_totp",
        "api.mfa.regenerate_codes",
        "api.passkeys.registration_options",
        "api.passkeys.add_passkey",
        "api.passkeys.delete_passkey",
        "api.tokens.create",
    }
)
REAUTH_SECONDS = 600
SECURITY_TABLES = {
    name: f"SELECT * FROM {name} ORDER BY 1"  # noqa: S608 (fixed names, no input)
    for name in ("mfa_totp", "recovery_codes", "passkeys", "api_tokens")
}
# Public state changes that take no guess: a mailed link's 256-bit token is the credential.
LINK_POSTS = frozenset(
    {
        "recovery.verify_email",
        "recovery.reset_password",
        "api.recovery.verify_email",
        "api.recovery.reset_password",
    }
)
# A body that gets each guarded call as far as its limits (a wrong guess, a real address).
GUESSES: dict[str, dict[str, str]] = {
    "auth.login": {"username": "alice", "password": "a wrong guess"},
    "api.auth.login": {"username": "alice", "password": "a wrong guess"},
    "mfa.login": {"code": "000000"},
    "api.mfa.login_second_factor": {"code": "000000"},
    "recovery.forgot_password": {"email": "alice@example.org"},
    "api.recovery.forgot_password": {"email": "alice@example.org"},
}
# More requests than any per-address limit lets through in a minute (the login page's 60),
# with room for the seconds the requests themselves take: the limiter's clock is the
# system's, and each second lets one more through.
ENOUGH_GUESSES = 120


async def security_snapshot(app: Quart) -> dict[str, list[tuple[Any, ...]]]:
    """``snapshot`` plus every row of the second-factor, passkey and token tables."""
    tables = {name: await sql(app, query) for name, query in SECURITY_TABLES.items()}
    return {**await snapshot(app), **tables}


def test_sensitive_set_names_real_endpoints() -> None:
    assert ENDPOINTS >= SENSITIVE


@pytest.mark.parametrize(
    ("rule", "method"),
    calls([rule for rule in RULES if rule.endpoint in SENSITIVE], STATE_CHANGING),
)
async def test_sensitive_action_needs_recent_authentication(
    app: Quart, client: QuartClient, rule: Rule, method: str
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        path = url(rule, await logged_in_post(client))
        manual.advance(REAUTH_SECONDS + 1)
        token = await csrf_token(client, "/account")  # also refreshes last_seen_at
        before = await security_snapshot(app)
        if path.startswith("/api/"):
            response = await client.open(path, method=method, json={})
            assert response.status_code == 403
            assert (await response.get_json())["error"]["code"] == "reauth_required"
        else:
            response = await client.open(path, method=method, form={"csrf_token": token})
            assert response.status_code == 303
            assert urlsplit(response.headers["Location"]).path == "/reauth"
        assert await security_snapshot(app) == before


@pytest.mark.parametrize(
    ("rule", "method"),
    calls([rule for rule in RULES if rule.endpoint in PUBLIC - LINK_POSTS], frozenset({"POST"})),
)
async def test_public_guess_is_rate_limited(
    app_overrides: dict[str, str], rule: Rule, method: str
) -> None:
    app = create_app({**app_overrides, "RATE_LIMITS": "on"}, testing=True, send_mail=False)
    async with app.test_app():
        client = app.test_client()
        await api_register(client, "alice")
        path, body = url(rule, 1), GUESSES.get(rule.endpoint, {})
        token = None if path.startswith("/api/") else await csrf_token(client, "/login")
        for _attempt in range(ENOUGH_GUESSES):
            if token is None:
                response = await client.open(path, method=method, json=body)
            else:
                response = await client.open(
                    path, method=method, form={**body, "csrf_token": token}
                )
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
                return
        pytest.fail(f"{method} {path}: no 429 after {ENOUGH_GUESSES} requests")
