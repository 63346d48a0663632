"""The login's second step on the API (SPEC §12): mfa_required, then /api/v1/login/2fa."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from quart_blog.mfa.service import PENDING_COOKIE
from tests.api.helpers import AUTH_COOKIE, assert_error, set_cookies
from tests.factories import api_user
from tests.mfa.helpers import (
    Authenticator,
    code_step,
    count,
    enrol,
    events,
    is_logged_in_api,
    password_step,
    two_step_login,
    ungrouped,
)
from tests.views.helpers import sql


@pytest.fixture
def manual() -> Iterator[ManualClock]:
    with clock.use(ManualClock(clock.utcnow())) as chosen:
        assert isinstance(chosen, ManualClock)
        yield chosen


async def user_id(app: Quart, username: str = "alice") -> int:
    """The id of the account called ``username``."""
    [(found,)] = await sql(app, "SELECT id FROM users WHERE username = :name", name=username)
    return int(found)


async def enrolled(client: QuartClient, manual: ManualClock) -> tuple[Authenticator, list[str]]:
    """alice with TOTP on, logged out."""
    await api_user(client)
    enrolment = await enrol(client, manual)
    assert (await client.post("/api/v1/logout")).status_code == 204
    return enrolment


async def test_password_step_makes_no_session(client: QuartClient, manual: ManualClock) -> None:
    await enrolled(client, manual)
    response = await password_step(client)
    error = await assert_error(response, 401, "mfa_required")
    assert "/api/v1/login/2fa" in error["message"]
    assert not await is_logged_in_api(client)


async def test_pending_cookie_is_httponly_lax_and_five_minutes(
    client: QuartClient, manual: ManualClock
) -> None:
    await enrolled(client, manual)
    cookie = set_cookies(await password_step(client))[PENDING_COOKIE]
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == "300"
    assert "secure" not in cookie  # plain HTTP here


async def test_pending_cookie_is_secure_over_https(
    client: QuartClient, manual: ManualClock
) -> None:
    await enrolled(client, manual)
    response = await client.post(
        "/api/v1/login",
        json={"username": "alice", "password": "correct horse battery"},
        scheme="https",
    )
    assert "secure" in set_cookies(response)[PENDING_COOKIE]


async def test_code_completes_the_login(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    authenticator, _codes = await enrolled(client, manual)
    await password_step(client)
    response = await code_step(client, authenticator.next_code())
    assert response.status_code == 200
    body = await response.get_json()
    assert set(body) == {"id", "username"} and body["username"] == "alice"
    cookies = set_cookies(response)
    assert AUTH_COOKIE in cookies
    assert cookies[PENDING_COOKIE][""] in ("", '""')  # the pending cookie is cleared
    assert await is_logged_in_api(client)
    assert await count(app, "pending_logins", body["id"]) == 0


async def test_remember_is_kept_across_the_step(client: QuartClient, manual: ManualClock) -> None:
    authenticator, _codes = await enrolled(client, manual)
    await password_step(client, remember=True)
    response = await code_step(client, authenticator.next_code())
    cookie = set_cookies(response)[AUTH_COOKIE]
    assert "expires" in cookie or "max-age" in cookie


async def test_wrong_password_is_not_mfa_required(client: QuartClient, manual: ManualClock) -> None:
    await enrolled(client, manual)
    response = await client.post("/api/v1/login", json={"username": "alice", "password": "nope"})
    error = await assert_error(response, 401)
    assert error["code"] != "mfa_required"
    assert PENDING_COOKIE not in set_cookies(response)


async def test_accepted_code_is_refused_again(client: QuartClient, manual: ManualClock) -> None:
    authenticator, _codes = await enrolled(client, manual)
    code = authenticator.next_code()
    await two_step_login(client, code)
    await client.post("/api/v1/logout")
    await password_step(client)
    await assert_error(await code_step(client, code), 401, "invalid_code")
    # An older code (of the step before) is refused too, though within the drift window.
    await assert_error(await code_step(client, authenticator.code(-1)), 401, "invalid_code")
    assert (await code_step(client, authenticator.next_code())).status_code == 200


@pytest.mark.parametrize(("steps", "accepted"), [(-1, True), (1, True), (-2, False), (2, False)])
async def test_one_step_of_drift_either_way(
    client: QuartClient, manual: ManualClock, steps: int, accepted: bool
) -> None:
    authenticator, _codes = await enrolled(client, manual)
    manual.advance(5 * 30)  # well past the step that confirmed the enrolment
    await password_step(client)
    response = await code_step(client, authenticator.code(steps))
    if accepted:
        assert response.status_code == 200
    else:
        await assert_error(response, 401, "invalid_code")


async def test_five_wrong_codes_end_the_pending_login(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    authenticator, _codes = await enrolled(client, manual)
    await password_step(client)
    wrong = authenticator.wrong_code()
    for _ in range(4):
        await assert_error(await code_step(client, wrong), 401, "invalid_code")
    await assert_error(await code_step(client, wrong), 401, "mfa_expired")
    await assert_error(await code_step(client, authenticator.next_code()), 401, "mfa_expired")
    assert not await is_logged_in_api(client)
    assert await count(app, "pending_logins", await user_id(app)) == 0
    # The login starts over: the password again, then a right code.
    await password_step(client)
    assert (await code_step(client, authenticator.next_code())).status_code == 200


async def test_parallel_guesses_cannot_exceed_five(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    authenticator, _codes = await enrolled(client, manual)
    await password_step(client)
    wrong = authenticator.wrong_code()
    answers = await asyncio.gather(*(code_step(client, wrong) for _ in range(8)))
    codes = [(await answer.get_json())["error"]["code"] for answer in answers]
    assert codes.count("invalid_code") <= 4
    await assert_error(await code_step(client, authenticator.next_code()), 401, "mfa_expired")


@pytest.mark.parametrize(("age", "alive"), [(299, True), (300, False), (301, False)])
async def test_pending_login_lasts_five_minutes(
    client: QuartClient, manual: ManualClock, age: int, alive: bool
) -> None:
    authenticator, _codes = await enrolled(client, manual)
    await password_step(client)
    manual.advance(age)
    response = await code_step(client, authenticator.code())
    if alive:
        assert response.status_code == 200
    else:
        await assert_error(response, 401, "mfa_expired")
        assert not await is_logged_in_api(client)


async def test_another_client_cannot_finish_the_login(
    client: QuartClient, other_client: QuartClient, manual: ManualClock
) -> None:
    authenticator, _codes = await enrolled(client, manual)
    await password_step(client)
    code = authenticator.next_code()
    await assert_error(await code_step(other_client, code), 401, "mfa_expired")
    assert not await is_logged_in_api(other_client)
    # The client that passed the password step still can.
    assert (await code_step(client, code)).status_code == 200


async def test_a_made_up_pending_cookie_is_no_pending_login(
    client: QuartClient, other_client: QuartClient, manual: ManualClock
) -> None:
    """A forged pending cookie (any random value) is no pending login."""
    authenticator, _codes = await enrolled(client, manual)
    other_client.set_cookie("localhost", PENDING_COOKIE, "made-up-token")
    response = await code_step(other_client, authenticator.next_code())
    await assert_error(response, 401, "mfa_expired")


async def test_without_a_password_step_the_code_is_mfa_expired(client: QuartClient) -> None:
    await assert_error(await code_step(client, "123456"), 401, "mfa_expired")


async def test_the_same_code_wins_once_in_parallel(
    client: QuartClient, other_client: QuartClient, manual: ManualClock
) -> None:
    authenticator, _codes = await enrolled(client, manual)
    await password_step(client)
    await password_step(other_client)
    code = authenticator.next_code()
    answers = await asyncio.gather(code_step(client, code), code_step(other_client, code))
    assert sorted(answer.status_code for answer in answers) == [200, 401]


async def test_recovery_code_logs_in_once(
    app: Quart, client: QuartClient, other_client: QuartClient, manual: ManualClock
) -> None:
    _authenticator, codes = await enrolled(client, manual)
    await two_step_login(client, codes[0])
    assert "recovery_code_used" in await events(app, await user_id(app))
    response = await client.get("/api/v1/me/2fa")
    assert (await response.get_json())["recovery_codes_left"] == 9
    await password_step(other_client)
    await assert_error(await code_step(other_client, codes[0]), 401, "invalid_code")


async def test_recovery_code_without_dashes_and_in_capitals(
    client: QuartClient, manual: ManualClock
) -> None:
    _authenticator, codes = await enrolled(client, manual)
    await password_step(client)
    assert (await code_step(client, ungrouped(codes[3]))).status_code == 200


async def test_recovery_code_with_spaces(client: QuartClient, manual: ManualClock) -> None:
    _authenticator, codes = await enrolled(client, manual)
    await password_step(client)
    assert (await code_step(client, " " + codes[5].replace("-", " ") + " ")).status_code == 200


@pytest.mark.parametrize("body", [{}, {"code": 12}, {"code": "x" * 65}, {"code": "a\x00b"}])
async def test_bad_code_body_is_a_clear_error(
    client: QuartClient, manual: ManualClock, body: dict[str, object]
) -> None:
    await enrolled(client, manual)
    await password_step(client)
    response = await client.post("/api/v1/login/2fa", json=body)
    await assert_error(response, {400, 401, 422})


async def test_a_wrong_code_is_a_failed_login_in_the_log(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    authenticator, _codes = await enrolled(client, manual)
    await password_step(client)
    await assert_error(await code_step(client, authenticator.wrong_code()), 401, "invalid_code")
    assert (await events(app, await user_id(app)))[-1] == "login_failed"
    assert (await code_step(client, authenticator.next_code())).status_code == 200
    assert (await events(app, await user_id(app)))[-1] == "login"
