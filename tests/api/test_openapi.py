"""The OpenAPI document and the API reference page (SPEC §6, §8; issue #13 point 2).

``/openapi.json`` passes openapi-spec-validator with no finding, holds only the ``/api/v1``
routes, each with a unique ``operationId``, its success response and every error response
with the ``{"error": {...}}`` schema; the real answers match the documented schemas.
``/api/docs`` is Swagger UI served from the site under the unchanged CSP, with no inline script.
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
}
PUBLIC_OPERATIONS = {"register", "logIn", "verifyEmail", "forgotPassword", "resetPassword"}
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
    assert set(document["paths"]) == API_PATHS
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
    assert set(ids) == set(SPEC_STATUSES)


async def test_every_operation_documents_its_success_and_its_errors(
    document: dict[str, Any],
) -> None:
    for operation_id, (method, path, operation) in by_id(document).items():
        responses = operation["responses"]
        statuses = {int(status) for status in responses}
        where = f"{method.upper()} {path}"
        assert SPEC_STATUSES[operation_id] <= statuses, (where, statuses)
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
                limited.add((operation_id, status))
    assert {operation_id for operation_id, status in limited if status == "429"} == {
        "register",
        "logIn",
        "changePassword",
        "changeEmail",
        "forgotPassword",
    }
    # Where a password is hashed or checked, the hashing pool may be full.
    assert {operation_id for operation_id, status in limited if status == "503"} == {
        "register",
        "logIn",
        "changePassword",
        "changeEmail",
        "resetPassword",
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
    assert seen == 3  # GET, PATCH and DELETE /api/v1/posts/{post_id}


async def test_cookie_scheme_guards_every_login_required_operation(
    client: QuartClient, document: dict[str, Any]
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "cookieAuth": {
            "type": "apiKey",
            "in": "cookie",
            "name": AUTH_COOKIE,
            "description": schemes["cookieAuth"]["description"],
        }
    }
    for operation_id, (method, path, operation) in by_id(document).items():
        if operation_id in PUBLIC_OPERATIONS:
            assert operation["security"] == [], operation_id
        else:
            assert operation["security"] == [{"cookieAuth": []}], operation_id
            assert "401" in operation["responses"], operation_id
        # What the document says is what the route does, asked anonymously.
        url = path.replace("{post_id}", "1")
        response = await client.open(url, method=method.upper(), json={})
        assert (response.status_code == 401) is (operation_id not in PUBLIC_OPERATIONS), (
            operation_id,
            response.status_code,
        )


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
    client: QuartClient, other_client: QuartClient, document: dict[str, Any]
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
