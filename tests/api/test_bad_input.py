"""Hostile and malformed API input: never a 500, always a JSON error, nothing stored (SPEC §7)."""

from __future__ import annotations

import pytest
from quart.testing import QuartClient

from tests.api.helpers import JSON_HEADERS, all_post_ids, assert_error, assert_username_free
from tests.factories import api_login, api_post, api_register, api_user

MIB = 1024 * 1024
INVALID = {400, 422}

# Raw JSON bodies that every JSON endpoint must refuse, whatever its fields are.
GENERIC_BODIES: dict[str, bytes] = {
    "malformed": b'{"title": "t", "body": ',
    "empty": b"",
    "whitespace": b"  \n ",
    "list": b'[{"title": "t", "body": "b"}]',
    "string": b'"title"',
    "number": b"5",
    "null": b"null",
    "invalid-utf8": b'{"title": "\xff\xfe", "body": "\xc3\x28"}',
    "deep-list": b"[" * 100_000,
    "deep-closed-list": b"[" * 5_000 + b"]" * 5_000,
    "deep-object": b'{"a":' * 50 + b"1" + b"}" * 50,
    "nan": b'{"title": NaN, "body": NaN}',
    "infinity": b'{"title": Infinity, "body": -Infinity}',
    "huge-integer": b'{"title": ' + b"9" * 5000 + b', "body": "b"}',
}

POST_BODIES: dict[str, bytes] = {
    **GENERIC_BODIES,
    "title-int": b'{"title": 5, "body": "b"}',
    "body-list": b'{"title": "t", "body": ["b"]}',
    "title-null": b'{"title": null, "body": "b"}',
    "missing-title": b'{"body": "b"}',
    "missing-body": b'{"title": "t"}',
    "empty-object": b"{}",
    "blank-title": b'{"title": "   ", "body": "b"}',
    "empty-body": b'{"title": "t", "body": ""}',
    "blank-body": b'{"title": "t", "body": "  \\n "}',
    "title-201": b'{"title": "' + b"t" * 201 + b'", "body": "b"}',
    "body-20001": b'{"title": "t", "body": "' + b"b" * 20_001 + b'"}',
    "nul-title": b'{"title": "a\\u0000b", "body": "b"}',
    "nul-body": b'{"title": "t", "body": "a\\u0000b"}',
    "surrogate-title": b'{"title": "a\\ud800b", "body": "b"}',
    "surrogate-body": b'{"title": "t", "body": "\\udfff"}',
    "nul-key": b'{"title": "t", "body": "b", "x\\u0000": 1}',
    "nested-in-field": b'{"title": "t", "body": "b", "x": ' + b"[" * 40 + b"]" * 40 + b"}",
}

# A partial PATCH is valid, so the missing-field cases do not apply to it.
PARTIAL = {"missing-title", "missing-body", "title-null"}
PATCH_BODIES = {name: raw for name, raw in POST_BODIES.items() if name not in PARTIAL}

REGISTER_BODIES: dict[str, bytes] = {
    **GENERIC_BODIES,
    "username-null": b'{"username": null, "password": "correct horse battery"}',
    "username-int": b'{"username": 5, "password": "correct horse battery"}',
    "password-int": b'{"username": "bob", "password": 1234567890}',
    "missing-password": b'{"username": "bob"}',
    "missing-username": b'{"password": "correct horse battery"}',
    "nul-username": b'{"username": "bob\\u0000", "password": "correct horse battery"}',
    "nul-password": b'{"username": "bob", "password": "correct\\u0000horse"}',
    "surrogate-password": b'{"username": "bob", "password": "correct \\ud800 horse"}',
    "utf8-password": b'{"username": "bob", "password": "correct \xff horse"}',
    "nan-password": b'{"username": "bob", "password": NaN}',
    "huge-password": b'{"username": "bob", "password": ' + b"1" * 5000 + b"}",
}

LOGIN_BODIES: dict[str, bytes] = {
    **GENERIC_BODIES,
    "remember-string": b'{"username": "alice", "password": "correct horse battery", '
    b'"remember": "yes"}',
    "remember-int": b'{"username": "alice", "password": "correct horse battery", "remember": 1}',
    "username-null": b'{"username": null, "password": "correct horse battery"}',
    "missing-password": b'{"username": "alice"}',
    "nul-password": b'{"username": "alice", "password": "correct horse battery\\u0000"}',
    "surrogate-username": b'{"username": "alice\\ud800", "password": "correct horse battery"}',
}

PASSWORD_BODIES: dict[str, bytes] = {
    **GENERIC_BODIES,
    "new-int": b'{"current_password": "correct horse battery", "new_password": 123456789}',
    "missing-new": b'{"current_password": "correct horse battery"}',
    "nul-new": b'{"current_password": "correct horse battery", "new_password": "new\\u0000pass"}',
    "surrogate-new": b'{"current_password": "correct horse battery", '
    b'"new_password": "new pass \\ud800"}',
}


@pytest.mark.parametrize("raw", POST_BODIES.values(), ids=POST_BODIES.keys())
async def test_create_post_bad_input_rejected(client: QuartClient, raw: bytes) -> None:
    await api_user(client)
    response = await client.post("/api/v1/posts", data=raw, headers=JSON_HEADERS)
    await assert_error(response, INVALID)
    assert await all_post_ids(client) == []


@pytest.mark.parametrize("raw", PATCH_BODIES.values(), ids=PATCH_BODIES.keys())
async def test_patch_post_bad_input_rejected(client: QuartClient, raw: bytes) -> None:
    await api_user(client)
    post = await api_post(client)
    url = f"/api/v1/posts/{post['id']}"
    await assert_error(await client.patch(url, data=raw, headers=JSON_HEADERS), INVALID)
    assert await (await client.get(url)).get_json() == post


@pytest.mark.parametrize("raw", REGISTER_BODIES.values(), ids=REGISTER_BODIES.keys())
async def test_register_bad_input_rejected(client: QuartClient, raw: bytes) -> None:
    response = await client.post("/api/v1/register", data=raw, headers=JSON_HEADERS)
    await assert_error(response, INVALID)
    await assert_username_free(client, "bob")


@pytest.mark.parametrize("raw", LOGIN_BODIES.values(), ids=LOGIN_BODIES.keys())
async def test_login_bad_input_rejected(client: QuartClient, raw: bytes) -> None:
    await api_register(client)
    response = await client.post("/api/v1/login", data=raw, headers=JSON_HEADERS)
    await assert_error(response, INVALID)
    await assert_error(await client.get("/api/v1/me"), 401)


@pytest.mark.parametrize("raw", PASSWORD_BODIES.values(), ids=PASSWORD_BODIES.keys())
async def test_change_password_bad_input_rejected(
    client: QuartClient, other_client: QuartClient, raw: bytes
) -> None:
    await api_user(client)
    response = await client.post("/api/v1/password", data=raw, headers=JSON_HEADERS)
    await assert_error(response, INVALID)
    await api_login(other_client)  # the old password still works
    assert (await client.get("/api/v1/me")).status_code == 200


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_post_write_wrong_content_type_415(
    client: QuartClient, method: str, content_type: str | None
) -> None:
    await api_user(client)
    post = await api_post(client)
    url = "/api/v1/posts" if method == "POST" else f"/api/v1/posts/{post['id']}"
    raw = b'{"title": "changed", "body": "changed"}'
    # The test client sends no Content-Length; a real HTTP/1.1 client always would.
    headers = {"Content-Length": str(len(raw))}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await client.open(url, method=method, data=raw, headers=headers)
    await assert_error(response, 415)
    assert await all_post_ids(client) == [post["id"]]
    assert await (await client.get(f"/api/v1/posts/{post['id']}")).get_json() == post


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_register_wrong_content_type_415(client: QuartClient, content_type: str) -> None:
    raw = b'{"username": "bob", "password": "correct horse battery"}'
    response = await client.post(
        "/api/v1/register", data=raw, headers={"Content-Type": content_type}
    )
    await assert_error(response, 415)
    await assert_username_free(client, "bob")


async def test_create_post_json_with_charset_accepted(client: QuartClient) -> None:
    await api_user(client)
    response = await client.post(
        "/api/v1/posts",
        data=b'{"title": "t", "body": "b"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "post_id", ["99999999999999999999999", str(2**63), str(2**63 - 1), "0", "-1", "abc", "1.5"]
)
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_post_odd_ids_404(client: QuartClient, method: str, post_id: str) -> None:
    await api_user(client)
    post = await api_post(client)
    response = await client.open(f"/api/v1/posts/{post_id}", method=method, json={"title": "x"})
    await assert_error(response, 404)
    assert await (await client.get(f"/api/v1/posts/{post['id']}")).get_json() == post


@pytest.mark.parametrize("before", ["99999999999999999999999", str(2**63), "abc", "-1", "1.5"])
async def test_index_bad_before_rejected(client: QuartClient, before: str) -> None:
    await api_user(client)
    await assert_error(await client.get(f"/api/v1/posts?before={before}"), INVALID)


@pytest.mark.parametrize("path", ["/api/v1/posts", "/api/v1/register"])
async def test_body_over_1mib_413(client: QuartClient, path: str) -> None:
    await api_user(client)
    raw = b'{"title": "t", "body": "' + b"b" * MIB + b'", "username": "bob"}'
    headers = {**JSON_HEADERS, "Content-Length": str(len(raw))}
    response = await client.post(path, data=raw, headers=headers)
    await assert_error(response, 413)
    assert await all_post_ids(client) == []
    await assert_username_free(client, "bob")


@pytest.mark.parametrize(
    ("chunks", "size", "status"), [(17, 65_536, 413), (4, 4096, 201)], ids=["over-1mib", "small"]
)
async def test_chunked_body_without_length(
    client: QuartClient, chunks: int, size: int, status: int
) -> None:
    await api_user(client)
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    async with client.request("/api/v1/posts", method="POST", headers=headers) as connection:
        await connection.send(b'{"title": "t", "body": "')
        for _ in range(chunks):
            await connection.send(b"b" * size)
        await connection.send(b'"}')
        await connection.send_complete()
    response = await connection.as_response()
    if status == 413:
        await assert_error(response, 413)
        assert await all_post_ids(client) == []
    else:
        assert response.status_code == 201, await response.get_data(as_text=True)
        assert len(await all_post_ids(client)) == 1


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/posts", {"GET", "POST"}),
        ("DELETE", "/api/v1/posts", {"GET", "POST"}),
        ("PUT", "/api/v1/posts/1", {"GET", "PATCH", "DELETE"}),
        ("POST", "/api/v1/posts/1", {"GET", "PATCH", "DELETE"}),
        ("GET", "/api/v1/login", {"POST"}),
        ("POST", "/api/v1/me", {"GET"}),
    ],
)
async def test_wrong_method_405_with_allow(
    client: QuartClient, method: str, path: str, allowed: set[str]
) -> None:
    await api_user(client)
    response = await client.open(path, method=method)
    await assert_error(response, 405)
    allow = {part.strip() for part in response.headers.get("Allow", "").split(",")}
    assert allowed <= allow, allow


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_unknown_api_path_404_json(client: QuartClient, method: str) -> None:
    await assert_error(await client.open("/api/v1/nope", method=method), 404)


async def test_register_1024_char_multibyte_password_round_trip(client: QuartClient) -> None:
    await api_register(client, "bob", "é" * 1024)
    await api_login(client, "bob", "é" * 1024)
