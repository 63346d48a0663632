"""Security-log tests deliver mail (resets, verifications) to a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.smtp import SmtpSink


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def app_overrides(app_overrides: dict[str, str], smtp: SmtpSink) -> dict[str, str]:
    return {**app_overrides, "MAIL_URL": smtp.url, "PUBLIC_URL": "https://blog.example.org"}
