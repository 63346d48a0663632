"""TOTP enrolment and recovery codes on the API (SPEC §12): /api/v1/me/2fa…"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from tests.api.helpers import assert_error
from tests.factories import PASSWORD, api_user
from tests.mfa.helpers import (
    Authenticator,
    code_step,
    count,
    enrol,
    events,
    password_step,
    start_enrolment,
    status,
)
from tests.views.helpers import sql

CODE_RE = re.compile(r"^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$")


@pytest.fixture
def manual() -> Iterator[ManualClock]:
    with clock.use(ManualClock(clock.utcnow())) as chosen:
        assert isinstance(chosen, ManualClock)
        yield chosen


async def test_status_of_a_new_account(client: QuartClient) -> None:
    await api_user(client)
    assert await status(client) == {"totp": False, "recovery_codes_left": 0, "passkeys": 0}


async def test_start_gives_a_secret_and_an_otpauth_uri(
    client: QuartClient, manual: ManualClock
) -> None:
    await api_user(client)
    body = await start_enrolment(client)
    assert set(body) == {"secret", "otpauth_uri"}
    assert len(base64.b32decode(body["secret"])) == 20  # 160 bits
    uri = urlsplit(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert "alice" in uri.path
    query = parse_qs(uri.query)
    assert query["secret"] == [body["secret"]]
    assert query["issuer"] == ["quart-blog"]
    # Not on until a code confirms it: a login still needs only the password.
    assert (await status(client))["totp"] is False
    response = await client.post("/api/v1/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200


async def test_wrong_code_does_not_switch_it_on(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    user = await api_user(client)
    authenticator = Authenticator((await start_enrolment(client))["secret"], manual)
    response = await client.post(
        "/api/v1/me/2fa/totp/confirm", json={"code": authenticator.wrong_code()}
    )
    await assert_error(response, 400, "invalid_code")
    assert (await status(client))["totp"] is False
    assert await count(app, "recovery_codes", user["id"]) == 0
    assert "mfa_enabled" not in await events(app, user["id"])


async def test_confirming_switches_it_on_and_shows_ten_codes(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    user = await api_user(client)
    _authenticator, codes = await enrol(client, manual)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(CODE_RE.match(code) for code in codes), codes
    assert await status(client) == {"totp": True, "recovery_codes_left": 10, "passkeys": 0}
    assert (await events(app, user["id"]))[-1] == "mfa_enabled"
    stored = await sql(app, "SELECT code_hash FROM recovery_codes")
    assert all(code.replace("-", "") not in str(stored) for code in codes)


async def test_secret_is_stored_encrypted(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    await api_user(client)
    authenticator, _codes = await enrol(client, manual)
    [(stored,)] = await sql(app, "SELECT secret FROM mfa_totp")
    assert authenticator.secret not in stored
    assert authenticator.secret.lower() not in stored.lower()


async def test_confirm_without_enrolment_is_400(client: QuartClient) -> None:
    await api_user(client)
    response = await client.post("/api/v1/me/2fa/totp/confirm", json={"code": "123456"})
    await assert_error(response, 400, "invalid_code")


async def test_starting_again_replaces_the_pending_secret(
    client: QuartClient, manual: ManualClock
) -> None:
    await api_user(client)
    first = Authenticator((await start_enrolment(client))["secret"], manual)
    second = Authenticator((await start_enrolment(client))["secret"], manual)
    assert first.secret != second.secret
    response = await client.post("/api/v1/me/2fa/totp/confirm", json={"code": first.code()})
    await assert_error(response, 400, "invalid_code")
    response = await client.post("/api/v1/me/2fa/totp/confirm", json={"code": second.code()})
    assert response.status_code == 200


async def test_no_new_enrolment_while_on(client: QuartClient, manual: ManualClock) -> None:
    await api_user(client)
    authenticator, _codes = await enrol(client, manual)
    response = await client.post("/api/v1/me/2fa/totp")
    await assert_error(response, 409)
    # The working secret is untouched.
    await client.post("/api/v1/logout")
    await password_step(client)
    assert (await code_step(client, authenticator.next_code())).status_code == 200


@pytest.mark.parametrize("body", [{}, {"code": 123456}, {"code": "1" * 65}, {"code": None}])
async def test_bad_confirm_body_is_a_clear_error(
    client: QuartClient, manual: ManualClock, body: dict[str, object]
) -> None:
    await api_user(client)
    await start_enrolment(client)
    response = await client.post("/api/v1/me/2fa/totp/confirm", json=body)
    await assert_error(response, {400, 422})
    assert (await status(client))["totp"] is False


async def test_regenerating_voids_the_old_codes(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    user = await api_user(client)
    _authenticator, old = await enrol(client, manual)
    response = await client.post("/api/v1/me/2fa/recovery-codes")
    assert response.status_code == 200
    new = (await response.get_json())["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert (await status(client))["recovery_codes_left"] == 10
    assert (await events(app, user["id"]))[-1] == "mfa_enabled"  # TOTP is still on
    await client.post("/api/v1/logout")
    await password_step(client)
    await assert_error(await code_step(client, old[0]), 401, "invalid_code")
    assert (await code_step(client, new[0])).status_code == 200


async def test_regenerating_without_totp_is_409(client: QuartClient) -> None:
    await api_user(client)
    await assert_error(await client.post("/api/v1/me/2fa/recovery-codes"), 409)


async def test_turning_it_off(app: Quart, client: QuartClient, manual: ManualClock) -> None:
    user = await api_user(client)
    await enrol(client, manual)
    response = await client.delete("/api/v1/me/2fa/totp")
    assert response.status_code == 204
    assert await status(client) == {"totp": False, "recovery_codes_left": 0, "passkeys": 0}
    assert await count(app, "mfa_totp", user["id"]) == 0
    assert (await events(app, user["id"]))[-1] == "mfa_disabled"
    await client.post("/api/v1/logout")
    response = await client.post("/api/v1/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200


async def test_turning_it_off_when_off_records_nothing(app: Quart, client: QuartClient) -> None:
    user = await api_user(client)
    assert (await client.delete("/api/v1/me/2fa/totp")).status_code == 204
    assert "mfa_disabled" not in await events(app, user["id"])


CHANGES = [
    ("POST", "/api/v1/me/2fa/totp", None),
    ("POST", "/api/v1/me/2fa/totp/confirm", {"code": "000000"}),
    ("DELETE", "/api/v1/me/2fa/totp", None),
    ("POST", "/api/v1/me/2fa/recovery-codes", None),
]


@pytest.mark.parametrize(("method", "path", "body"), CHANGES)
async def test_every_change_needs_recent_authentication(
    app: Quart,
    client: QuartClient,
    manual: ManualClock,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    user = await api_user(client)
    await enrol(client, manual)
    before = await sql(app, "SELECT secret, confirmed_at, last_counter FROM mfa_totp")
    codes_before = await sql(app, "SELECT code_hash FROM recovery_codes ORDER BY code_hash")
    manual.advance(601)
    response = await client.open(path, method=method, json=body)
    await assert_error(response, 403, "reauth_required")
    assert await sql(app, "SELECT secret, confirmed_at, last_counter FROM mfa_totp") == before
    assert await sql(app, "SELECT code_hash FROM recovery_codes ORDER BY code_hash") == codes_before
    assert (await events(app, user["id"]))[-1] == "mfa_enabled"
    # Confirming it is you lets the change through.
    assert (await client.post("/api/v1/reauth", json={"password": PASSWORD})).status_code == 204
    response = await client.open(path, method=method, json=body)
    assert response.status_code != 403


async def test_second_factor_routes_need_a_session(client: QuartClient) -> None:
    for method, path, body in [("GET", "/api/v1/me/2fa", None), *CHANGES]:
        response = await client.open(path, method=method, json=body)
        await assert_error(response, 401)


async def test_parallel_starts_leave_one_pending_secret(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    user = await api_user(client)
    answers = await asyncio.gather(*(client.post("/api/v1/me/2fa/totp") for _ in range(4)))
    assert [answer.status_code for answer in answers] == [200] * 4
    assert await count(app, "mfa_totp", user["id"]) == 1


async def test_parallel_regenerations_leave_one_set(
    client: QuartClient, manual: ManualClock
) -> None:
    await api_user(client)
    await enrol(client, manual)
    answers = await asyncio.gather(
        *(client.post("/api/v1/me/2fa/recovery-codes") for _ in range(3))
    )
    assert [answer.status_code for answer in answers] == [200] * 3
    assert (await status(client))["recovery_codes_left"] == 10
