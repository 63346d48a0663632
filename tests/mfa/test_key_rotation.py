"""TOTP secrets are encrypted under a key from SECRET_KEY, and survive its rotation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from tests.api.helpers import assert_error
from tests.factories import SECRET_KEY, api_user
from tests.mfa.helpers import code_step, enrol, password_step
from tests.views.helpers import running_app, sql

NEW_KEY = "rotated-secret-key-fedcba9876543210"
UNRELATED_KEY = "unrelated-secret-key-0011223344556677"


@pytest.fixture
def manual() -> Iterator[ManualClock]:
    with clock.use(ManualClock(clock.utcnow())) as chosen:
        assert isinstance(chosen, ManualClock)
        yield chosen


async def stored_secret(app: Quart) -> str:
    [(secret,)] = await sql(app, "SELECT secret FROM mfa_totp")
    return str(secret)


async def test_secret_sealed_under_the_old_key_works_after_rotation(
    app: Quart, client: QuartClient, app_overrides: dict[str, str], manual: ManualClock
) -> None:
    await api_user(client)
    authenticator, _codes = await enrol(client, manual)
    sealed_by_old = await stored_secret(app)

    async with running_app({**app_overrides, "SECRET_KEY": f"{NEW_KEY},{SECRET_KEY}"}) as rotated:
        browser = rotated.test_client()
        await password_step(browser)
        assert (await code_step(browser, authenticator.next_code())).status_code == 200
        # Used once under the new key, the secret is sealed again under it.
        assert await stored_secret(rotated) != sealed_by_old

    # So once the old key is retired, the authenticator still works.
    async with running_app({**app_overrides, "SECRET_KEY": NEW_KEY}) as retired:
        browser = retired.test_client()
        await password_step(browser)
        assert (await code_step(browser, authenticator.next_code())).status_code == 200


async def test_a_key_that_never_sealed_the_secret_refuses_cleanly(
    app: Quart, client: QuartClient, app_overrides: dict[str, str], manual: ManualClock
) -> None:
    await api_user(client)
    authenticator, codes = await enrol(client, manual)
    async with running_app({**app_overrides, "SECRET_KEY": UNRELATED_KEY}) as other:
        browser = other.test_client()
        await password_step(browser)
        await assert_error(await code_step(browser, authenticator.next_code()), 401, "invalid_code")
        # Recovery codes do not depend on the key: the way back in still works.
        assert (await code_step(browser, codes[0])).status_code == 200
