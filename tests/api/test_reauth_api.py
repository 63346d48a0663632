"""Recent authentication on the API (SPEC §13): POST /api/v1/reauth."""

from __future__ import annotations

from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from tests.api.helpers import assert_error
from tests.factories import PASSWORD, api_user


async def test_reauth_with_the_password(client: QuartClient) -> None:
    await api_user(client)
    response = await client.post("/api/v1/reauth", json={"password": PASSWORD})
    assert response.status_code == 204


async def test_wrong_password_is_invalid_credentials(client: QuartClient) -> None:
    await api_user(client)
    response = await client.post("/api/v1/reauth", json={"password": "not the password"})
    await assert_error(response, 401, "invalid_credentials")


async def test_neither_password_nor_code_is_invalid_credentials(client: QuartClient) -> None:
    await api_user(client)
    response = await client.post("/api/v1/reauth", json={})
    await assert_error(response, 401, "invalid_credentials")


async def test_bad_body_is_a_clear_error(client: QuartClient) -> None:
    await api_user(client)
    response = await client.post("/api/v1/reauth", json={"password": 12})
    await assert_error(response, {400, 422})


async def test_reauth_needs_a_session(client: QuartClient) -> None:
    response = await client.post("/api/v1/reauth", json={"password": PASSWORD})
    await assert_error(response, 401)


async def test_reauth_works_long_after_login(client: QuartClient) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_user(client)
        manual.advance(3600)
        response = await client.post("/api/v1/reauth", json={"password": PASSWORD})
        assert response.status_code == 204
