"""The OpenAPI document and the API reference page (SPEC §6, §8; issue #13 point 2).

``/openapi.json`` passes openapi-spec-validator with no finding, holds only the ``/api/v1``
routes, each with a unique ``operationId``, its success response and every error response
with the ``{"error": {...}}`` schema; the real answers match the documented schemas.
``/api/docs`` is Swagger UI served from the site under the unchanged CSP, with no inline script.
Both ways to authenticate are security schemes (SPEC §6, §14): the cookie on every private
operation, and a Bearer token on exactly those a token may use.

The paths and operations below are the ones SPEC names; features may add more, and every
operation of the document is checked for its shape all the same.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from quart import Quart
from quart.testing import QuartClient
from quart.wrappers import Response

from quart_blog.security.headers import CONTENT_SECURITY_POLICY
from tests.api.helpers import AUTH_COOKIE, JSON_HEADERS
from tests.factories import PASSWORD, api_user

API_PATHS = {
    "/api/v1/register",
    "/api/v1/login",
    "/api/v1/logout",
    "/api/v1/me",
    "/api/v1/posts",
    "/api/v1/posts/{post_id}",
    "/api/v1/password",
    "/api/v1/me/email",
    "/api/v1/email/verify",
    "/api/v1/password/forgot",
    "/api/v1/password/reset",
    "/api/v1/reauth",
    "/api/v1/tokens",
    "/api/v1/tokens/{token_id}",
}
# SPEC §6 (and §11 for recovery): the statuses each operation must document, at least.
SPEC_STATUSES = {
    "register": {201, 400, 409, 422, 429},
    "logIn": {200, 401, 429},
    "logOut": {204, 401},
    "getMe": {200, 401},
    "listPosts": {200, 401},
    "createPost": {201, 400, 401, 422},
    "getPost": {200, 401, 404},
    "updatePost": {200, 400, 401, 404, 422},
    "deletePost": {204, 401, 404},
    "changePassword": {204, 400, 401, 422, 429},
    "changeEmail": {202, 400, 401, 409, 422, 429},
    "verifyEmail": {204, 400, 422},
    "forgotPassword": {202, 400, 422, 429},
    "resetPassword": {204, 400, 422},
    "reauthenticate": {204, 401, 403, 422},
    "createToken": {201, 400, 401, 403, 422},
    "listTokens": {200, 401, 403},
    "revokeToken": {204, 401, 403, 404},
}
PUBLIC_OPERATIONS = {"register", "logIn", "verifyEmail", "forgotPassword", "resetPassword"}
# The operations a token authenticates (SPEC §14: GETs under /api/v1/me but /me/2fa, and
# the posts); writes among them need the role "write".
TOKEN_OPERATIONS = {"getMe", "listPosts", "createPost", "getPost", "updatePost", "deletePost"}
TOKEN_READS = {"getMe", "listPosts", "getPost"}
BODY_METHODS = {"post", "put", "patch", "delete"}
ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
PATH_PARAMETER = re.compile(r"{([^}]+)}")


@pytest.fixture
async def document(client: QuartClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    served: dict[str, Any] = await response.get_json()
    return served


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(method, path, operation)`` for every operation of the document."""
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def by_id(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {op["operationId"]: (method, path, op) for method, path, op in operations(document)}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A ``#/components/...`` reference followed (one level)."""
    if "$ref" not in schema:
        return schema
    node: Any = document
    for part in schema["$ref"].removeprefix("#/").split("/"):
        node = node[part]
    resolved: dict[str, Any] = node
    return resolved


async def test_openapi_passes_the_validator_with_no_finding(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    findings = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in OpenAPIV31SpecValidator(document).iter_errors()
    ]
    assert findings == []


async def test_openapi_holds_every_api_route_and_nothing_else(
    app: Quart, document: dict[str, Any]
) -> None:
    assert set(document["paths"]) >= API_PATHS
    routes = {
        (method.lower(), re.sub(r"<(?:[^:>]*:)?([^>]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert {(method, path) for method, path, _op in operations(document)} == routes


async def test_operation_ids_are_unique_and_name_every_operation(
    document: dict[str, Any],
) -> None:
    ids = [operation.get("operationId") for _method, _path, operation in operations(document)]
    assert None not in ids
    assert len(ids) == len(set(ids)), ids
    assert set(ids) >= set(SPEC_STATUSES)


async def test_every_operation_documents_its_success_and_its_errors(
    document: dict[str, Any],
) -> None:
    for operation_id, (method, path, operation) in by_id(document).items():
        responses = operation["responses"]
        statuses = {int(status) for status in responses}
        where = f"{method.upper()} {path}"
        assert SPEC_STATUSES.get(operation_id, set()) <= statuses, (where, statuses)
        assert 500 in statuses, where
        if method in BODY_METHODS:
            assert {403, 415} <= statuses, where  # cross-site refused; body not JSON
        if "requestBody" in operation:
            assert {400, 413, 422} <= statuses, where
            assert set(operation["requestBody"]["content"]) == {"application/json"}
        successes = [status for status in statuses if status < 400]
        assert len(successes) == 1 and 200 <= successes[0] < 300, (where, statuses)
        for status, response in responses.items():
            assert response["description"], (where, status)
            if status == "204":
                assert "content" not in response, where
                continue
            assert set(response["content"]) == {"application/json"}, (where, status)
            schema = response["content"]["application/json"]["schema"]
            if int(status) >= 400:
                assert schema == ERROR_REF, (where, status)
            else:
                assert resolve(document, schema).get("type") == "object", (where, status)


async def test_the_error_schema_is_the_error_shape(document: dict[str, Any]) -> None:
    error_out = document["components"]["schemas"]["ErrorOut"]
    assert error_out["type"] == "object"
    assert error_out["required"] == ["error"]
    body = resolve(document, error_out["properties"]["error"])
    assert body["type"] == "object"
    assert sorted(body["required"]) == ["code", "message"]
    assert {name: field["type"] for name, field in body["properties"].items()} == {
        "code": "string",
        "message": "string",
    }


async def test_429_and_503_say_retry_after(document: dict[str, Any]) -> None:
    limited = set()
    for operation_id, (_method, _path, operation) in by_id(document).items():
        for status in ("429", "503"):
            if status in operation["responses"]:
                header = operation["responses"][status]["headers"]["Retry-After"]
                assert header["schema"]["type"] == "integer", operation_id
                if operation_id in SPEC_STATUSES:  # a feature's own: its header alone
                    limited.add((operation_id, status))
    assert {operation_id for operation_id, status in limited if status == "429"} == {
        "register",
        "logIn",
        "changePassword",
        "changeEmail",
        "forgotPassword",
        "reauthenticate",
    }
    # Where a password is hashed or checked, the hashing pool may be full.
    assert {operation_id for operation_id, status in limited if status == "503"} == {
        "register",
        "logIn",
        "changePassword",
        "changeEmail",
        "resetPassword",
        "reauthenticate",
    }


async def test_path_ids_are_integers(document: dict[str, Any]) -> None:
    seen = 0
    for method, path, operation in operations(document):
        in_path = [param for param in operation["parameters"] if param["in"] == "path"]
        assert sorted(param["name"] for param in in_path) == sorted(PATH_PARAMETER.findall(path))
        for param in in_path:
            assert param["required"] is True
            assert param["schema"]["type"] == "integer", (method, path)
            assert param["schema"]["minimum"] == 1
            seen += 1
    assert seen >= 4  # GET, PATCH and DELETE /api/v1/posts/{post_id}; DELETE …/tokens/{token_id}


def token_may_use(method: str, path: str) -> bool:
    """What SPEC §14 opens to tokens: GETs under /api/v1/me but /me/2fa, and the posts."""
    if path == "/api/v1/posts" or path.startswith("/api/v1/posts/"):
        return True
    under_me = path == "/api/v1/me" or path.startswith("/api/v1/me/")
    second_factor = path == "/api/v1/me/2fa" or path.startswith("/api/v1/me/2fa/")
    return method == "get" and under_me and not second_factor


def concrete(path: str) -> str:
    """An operation's path with 1 for every id."""
    return PATH_PARAMETER.sub("1", path)


async def test_security_schemes_are_the_cookie_and_a_bearer_token(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "cookieAuth": {
            "type": "apiKey",
            "in": "cookie",
            "name": AUTH_COOKIE,
            "description": schemes["cookieAuth"]["description"],
        },
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": schemes["bearerAuth"]["bearerFormat"],
            "description": schemes["bearerAuth"]["description"],
        },
    }
    assert "Authorization: Bearer" in schemes["bearerAuth"]["description"]


async def test_cookie_scheme_guards_every_login_required_operation(
    client: QuartClient, document: dict[str, Any]
) -> None:
    for operation_id, (method, path, operation) in by_id(document).items():
        if operation_id in PUBLIC_OPERATIONS:
            assert operation["security"] == [], operation_id
        elif operation["security"]:
            assert operation["security"][0] == {"cookieAuth": []}, operation_id
            assert "401" in operation["responses"], operation_id
        if operation_id not in SPEC_STATUSES:
            continue  # a feature's own operation: its answer below is its own business
        # What the document says is what the route does, asked anonymously.
        response = await client.open(concrete(path), method=method.upper(), json={})
        assert (response.status_code == 401) is (operation_id not in PUBLIC_OPERATIONS), (
            operation_id,
            response.status_code,
        )


async def test_bearer_scheme_is_on_exactly_the_operations_a_token_may_use(
    document: dict[str, Any],
) -> None:
    with_bearer = set()
    for operation_id, (method, path, operation) in by_id(document).items():
        bearer = [alt["bearerAuth"] for alt in operation["security"] if "bearerAuth" in alt]
        assert bool(bearer) is token_may_use(method, path), operation_id
        if not bearer:
            # Any token sent here is refused, and the document says so.
            assert "token_not_allowed" in operation["responses"]["403"]["description"]
            continue
        with_bearer.add(operation_id)
        assert operation["security"] == [{"cookieAuth": []}, {"bearerAuth": bearer[0]}]
        # The role "write" where a read token is refused (403 insufficient_scope).
        assert bearer[0] == ([] if method == "get" else ["write"]), operation_id
        assert "invalid_token" in operation["responses"]["401"]["description"]
        if method == "get":
            assert "403" not in operation["responses"], operation_id
        else:
            assert "insufficient_scope" in operation["responses"]["403"]["description"]
    assert with_bearer >= TOKEN_OPERATIONS
    assert {op for op in with_bearer & set(SPEC_STATUSES) if op not in TOKEN_READS} == (
        TOKEN_OPERATIONS - TOKEN_READS
    )


async def test_what_the_document_says_of_tokens_is_what_the_routes_do(
    app: Quart, client: QuartClient, document: dict[str, Any]
) -> None:
    await api_user(client)
    tokens = {}
    for scope in ("read", "write"):
        made = await client.post(
            "/api/v1/tokens", json={"name": scope, "scope": scope, "expires_in_days": 1}
        )
        tokens[scope] = (await made.get_json())["token"]
    for operation_id, (method, path, operation) in by_id(document).items():
        bearer = [alt["bearerAuth"] for alt in operation["security"] if "bearerAuth" in alt]
        for scope, token in tokens.items():
            script = app.test_client()  # no cookie: the token alone
            response = await script.open(
                concrete(path),
                method=method.upper(),
                json={},
                headers={"Authorization": f"Bearer {token}"},
            )
            where = (operation_id, scope, response.status_code)
            if not bearer:
                assert response.status_code == 403, where
                assert (await response.get_json())["error"]["code"] == "token_not_allowed"
            elif bearer[0] and scope == "read":
                assert response.status_code == 403, where
                assert (await response.get_json())["error"]["code"] == "insufficient_scope"
            else:
                assert response.status_code not in (401, 403), where
            assert str(response.status_code) in operation["responses"], where


class Checker:
    """Validates real answers against the document's schema for their operation and status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.operations = by_id(document)
        self.checked: set[tuple[str, int]] = set()

    async def __call__(self, operation_id: str, response: Response) -> None:
        responses = self.operations[operation_id][2]["responses"]
        status = response.status_code
        assert str(status) in responses, (operation_id, status)
        self.checked.add((operation_id, status))
        if status == 204:
            assert await response.get_data() == b""
            return
        assert response.mimetype == "application/json"
        schema = responses[str(status)]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        errors = [error.message for error in validator.iter_errors(await response.get_json())]
        assert errors == [], (operation_id, status, errors)


async def test_real_answers_match_the_documented_schemas(
    app: Quart, client: QuartClient, other_client: QuartClient, document: dict[str, Any]
) -> None:
    check = Checker(document)
    await check("getMe", await client.get("/api/v1/me"))
    user = {"username": "alice", "password": PASSWORD}
    await check("register", await client.post("/api/v1/register", json=user))
    await check("register", await client.post("/api/v1/register", json=user))
    await check("register", await client.post("/api/v1/register", json={"username": "a"}))
    await check("logIn", await client.post("/api/v1/login", json={**user, "password": "wrong"}))
    await check("logIn", await client.post("/api/v1/login", json=user))
    await check("getMe", await client.get("/api/v1/me"))
    post = {"title": "Hello", "body": "World"}
    created = await client.post("/api/v1/posts", json=post)
    await check("createPost", created)
    post_url = f"/api/v1/posts/{(await created.get_json())['id']}"
    await check("createPost", await client.post("/api/v1/posts", data="x"))
    await check("createPost", await client.post("/api/v1/posts", data=b"{", headers=JSON_HEADERS))
    await check("listPosts", await client.get("/api/v1/posts?limit=1"))
    await check("listPosts", await client.get("/api/v1/posts?limit=0"))
    await check("getPost", await client.get(post_url))
    await check("updatePost", await client.patch(post_url, json={"title": "Again"}))
    await check("getPost", await client.get("/api/v1/posts/999999"))
    await check("getPost", await client.get("/api/v1/posts/9999999999999999999"))
    await check("deletePost", await client.delete(post_url))
    await check("deletePost", await client.delete(post_url))
    await check("changeEmail", await client.put("/api/v1/me/email", json={"email": "x"}))
    await check(
        "changeEmail",
        await client.put(
            "/api/v1/me/email", json={"email": "alice@example.org", "current_password": PASSWORD}
        ),
    )
    await check("verifyEmail", await client.post("/api/v1/email/verify", json={"token": "no"}))
    forgot = {"email": "alice@example.org"}
    await check("forgotPassword", await client.post("/api/v1/password/forgot", json=forgot))
    reset = {"token": "no", "new_password": "a new long password"}
    await check("resetPassword", await client.post("/api/v1/password/reset", json=reset))
    change = {"current_password": "wrong password", "new_password": "a new long password"}
    await check("changePassword", await client.post("/api/v1/password", json=change))
    change["current_password"] = PASSWORD
    await check("changePassword", await client.post("/api/v1/password", json=change))
    new_token = {"name": "script", "scope": "read", "expires_in_days": 30}
    made = await client.post("/api/v1/tokens", json=new_token)
    await check("createToken", made)
    await check("createToken", await client.post("/api/v1/tokens", json={"name": ""}))
    await check("listTokens", await client.get("/api/v1/tokens"))
    token = await made.get_json()
    script, auth = app.test_client(), {"Authorization": f"Bearer {token['token']}"}
    await check("getMe", await script.get("/api/v1/me", headers=auth))
    await check("listPosts", await script.get("/api/v1/posts", headers=auth))
    await check("createPost", await script.post("/api/v1/posts", json=post, headers=auth))
    await check("listTokens", await script.get("/api/v1/tokens", headers=auth))
    await check("revokeToken", await client.delete(f"/api/v1/tokens/{token['id']}"))
    await check("revokeToken", await client.delete(f"/api/v1/tokens/{token['id']}"))
    await check("getMe", await script.get("/api/v1/me", headers=auth))
    await check("logOut", await client.post("/api/v1/logout"))
    await check("logOut", await client.post("/api/v1/logout"))
    await api_user(other_client, "bob")
    cross_site = {"Sec-Fetch-Site": "cross-site"}
    await check(
        "createPost", await other_client.post("/api/v1/posts", json=post, headers=cross_site)
    )
    assert len(check.checked) >= 25, sorted(check.checked)


class PageParts(HTMLParser):
    """The scripts, stylesheets and attributes of a page, to check it against the CSP."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.stylesheets: list[str] = []
        self.inline: list[str] = []
        self.open_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, _value in attrs:
            if name.startswith("on") or name == "style":
                self.inline.append(f"<{tag} {name}>")
        if tag == "script":
            self.scripts.append(values.get("src"))
            self.open_script = True
        if tag == "style":
            self.inline.append("<style>")
        if tag == "link" and values.get("rel") == "stylesheet" and values.get("href"):
            self.stylesheets.append(str(values["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.open_script = False

    def handle_data(self, data: str) -> None:
        if self.open_script and data.strip():
            self.inline.append(f"<script>{data.strip()[:40]}")


async def test_api_docs_page_is_self_hosted_with_no_inline_script(client: QuartClient) -> None:
    response = await client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = await response.get_data(as_text=True)
    parts = PageParts()
    parts.feed(html)
    assert parts.inline == []
    assert None not in parts.scripts
    assets = [str(src) for src in parts.scripts] + parts.stylesheets
    assert any("swagger-ui-bundle.js" in src for src in assets)
    for src in assets:
        assert src.startswith("/") and not src.startswith("//"), src
        asset = await client.get(src)
        assert asset.status_code == 200, src
        expected = "text/javascript" if src.endswith(".js") else "text/css"
        assert asset.mimetype == expected, src
    assert 'data-openapi-url="/openapi.json"' in html


@pytest.mark.parametrize(
    "name",
    [
        "index.html",
        "index.j2",
        "swagger-initializer.js",
        "oauth2-redirect.html",
        "swagger-ui.js",
        "..%2F__init__.py",
    ],
)
async def test_api_docs_serves_only_the_files_the_page_loads(
    client: QuartClient, name: str
) -> None:
    response = await client.get(f"/api/docs/assets/{name}")
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/redocs", "/scalar", "/redoc", "/swagger"])
async def test_quart_schema_cdn_ui_pages_absent(client: QuartClient, path: str) -> None:
    assert (await client.get(path)).status_code == 404
