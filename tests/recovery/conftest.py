"""Recovery tests deliver to a real SMTP server (aiosmtpd) on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.smtp import SmtpSink

PUBLIC_URL = "https://blog.example.org"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def app_overrides(app_overrides: dict[str, str], smtp: SmtpSink) -> dict[str, str]:
    return {**app_overrides, "MAIL_URL": smtp.url, "PUBLIC_URL": PUBLIC_URL}
