"""The instruction-count benchmark's fixed request plan and dump parsing
(``loadtest/instructions.py``; the measurement itself needs valgrind and minutes)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

LOADTEST = Path(__file__).resolve().parent.parent / "loadtest"


@pytest.fixture(autouse=True)
def loadtest_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(LOADTEST))


def test_the_mixed_plan_is_the_mixed_scenarios_shares_and_fixed() -> None:
    import instructions

    steps = instructions.plan(100, "mixed", offset=7)
    assert Counter(step.kind for step in steps) == {"list": 80, "create": 15, "delete": 5}
    assert steps == instructions.plan(100, "mixed", offset=7)
    assert steps != instructions.plan(100, "mixed", offset=14)
    assert {step.user for step in steps} == set(range(instructions.SEED_USERS))


def test_the_read_plan_only_lists() -> None:
    import instructions

    assert {step.kind for step in instructions.plan(50, "read", offset=0)} == {"list"}


def test_the_count_is_read_from_the_dump_summary() -> None:
    import instructions

    dump = "version: 1\ncmd: python\ndesc: Trigger: dump after\nevents: Ir\nsummary: 1711146291\n"
    assert instructions.summary_of(dump) == 1711146291
    assert instructions.summary_of("events: Ir\n") is None
