"""Second-factor changes mail a notice to the verified address and land in the security log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from tests.factories import api_login
from tests.mfa.helpers import enrol, events, two_step_login
from tests.recovery.helpers import delivered, register_with_email, token_of
from tests.smtp import SmtpSink, html_part, text_part

PUBLIC_URL = "https://blog.example.org"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def app_overrides(app_overrides: dict[str, str], smtp: SmtpSink) -> dict[str, str]:
    return {**app_overrides, "MAIL_URL": smtp.url, "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture
def manual() -> Iterator[ManualClock]:
    with clock.use(ManualClock(clock.utcnow())) as chosen:
        assert isinstance(chosen, ManualClock)
        yield chosen


async def verified_user(app: Quart, client: QuartClient, smtp: SmtpSink) -> int:
    """alice with a verified address, logged in; the verification mail already read."""
    user = await register_with_email(client)
    [message] = await delivered(app, smtp, 1)
    response = await client.post("/api/v1/email/verify", json={"token": token_of(message)})
    assert response.status_code == 204
    await api_login(client)
    await delivered(app, smtp, 2)  # the "address confirmed" notice
    return int(user["id"])


async def test_enabling_regenerating_and_disabling_are_mailed_and_logged(
    app: Quart, client: QuartClient, smtp: SmtpSink, manual: ManualClock
) -> None:
    user_id = await verified_user(app, client, smtp)

    await enrol(client, manual)
    enabled = (await delivered(app, smtp, 3))[-1]
    assert enabled["To"] == "alice@example.org"
    assert "Two-step login is on" in enabled["Subject"]
    assert "alice" in text_part(enabled) and "turned on" in html_part(enabled)

    assert (await client.post("/api/v1/me/2fa/recovery-codes")).status_code == 200
    regenerated = (await delivered(app, smtp, 4))[-1]
    assert "recovery codes" in regenerated["Subject"]

    assert (await client.delete("/api/v1/me/2fa/totp")).status_code == 204
    disabled = (await delivered(app, smtp, 5))[-1]
    assert "turned off" in disabled["Subject"]
    assert "someone else may know your password" in text_part(disabled)

    log = await events(app, user_id)
    assert log.count("mfa_enabled") == 1
    assert log.count("mfa_disabled") == 1  # regenerating codes is mailed, not logged as "off"
    assert log.index("mfa_enabled") < log.index("mfa_disabled")


async def test_a_recovery_code_login_is_logged(
    app: Quart, client: QuartClient, smtp: SmtpSink, manual: ManualClock
) -> None:
    user_id = await verified_user(app, client, smtp)
    _authenticator, codes = await enrol(client, manual)
    await client.post("/api/v1/logout")
    await two_step_login(client, codes[0])
    assert "recovery_code_used" in await events(app, user_id)
