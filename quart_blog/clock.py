"""The one source of "now": every expiry, limit and freshness check asks this module.

Tests drive time with ``ManualClock`` and ``use`` instead of sleeping, so expiry and
time windows are exact and instant. (Quart-Rate-Limiter's own per-address limits read
the system clock: the library offers no hook for another.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What a clock tells: wall time (aware UTC) and a monotonic reading in seconds."""

    def utcnow(self) -> datetime: ...
    def monotonic(self) -> float: ...


class SystemClock:
    """The real time."""

    def utcnow(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self.ticks = 1_000.0

    def utcnow(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.ticks

    def advance(self, seconds: float) -> None:
        """Move both readings forward."""
        self.now += timedelta(seconds=seconds)
        self.ticks += seconds


_clock: Clock = SystemClock()


def utcnow() -> datetime:
    """The current time in UTC."""
    return _clock.utcnow()


def timestamp() -> float:
    """The current time as Unix seconds."""
    return _clock.utcnow().timestamp()


def monotonic() -> float:
    """Seconds on a clock that never goes back (for intervals, not for dates)."""
    return _clock.monotonic()


@contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the source of time inside the block."""
    global _clock
    previous, _clock = _clock, clock
    try:
        yield clock
    finally:
        _clock = previous
