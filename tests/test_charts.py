"""The benchmark's charts (``loadtest/charts.py``) from a small, made-up results.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

LOADTEST = Path(__file__).resolve().parent.parent / "loadtest"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def loadtest_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``loadtest/`` importable, as it is for ``bench.py`` run as a script."""
    monkeypatch.syspath_prepend(str(LOADTEST))


def spread(median: float) -> dict[str, float]:
    return {"median": median, "min": median * 0.9, "max": median * 1.1, "n": 3}


def summary_row(scenario: str, conns: int, servers: dict[str, float]) -> dict[str, Any]:
    """A summary row as bench.summary() writes it (2xx/s given, p99 ~ conns / 2xx/s)."""
    row: dict[str, Any] = {
        "scenario": scenario,
        "conns": conns,
        "rounds": 3,
        "servers": {
            name: {
                "ok_rps": spread(rps),
                "p99_ms": spread(round(1500 * conns / rps, 2)),
                "cpu_ms_per_request": spread(2.0),
            }
            for name, rps in servers.items()
        },
    }
    names = list(servers)
    if len(names) == 2:
        row["ratio_ok_rps"] = round(servers[names[0]] / servers[names[1]], 2)
        row["ratio_p99_ms"] = round(servers[names[1]] / servers[names[0]], 2)
    return row


def storm_run(target: str, conns: int, round_no: int, slow_ms: float) -> dict[str, Any]:
    """A login-storm run with its probe timeline (every 100 ms on 2 connections)."""
    t = [round(1.0 + i * 0.05, 3) for i in range(500)]
    ms = [slow_ms if i % 97 == 0 else 2.0 + (i % 7) for i in range(500)]
    return {
        "target": target,
        "scenario": "login-storm",
        "phase": "",
        "conns": conns,
        "round": round_no,
        "healthz_probe": {
            "every_ms": 100,
            "timeline": {"kept": "every probe answered", "t_s": t, "latency_ms": ms},
        },
    }


def results() -> dict[str, Any]:
    names = ["quart-blog", "flask"]
    rows = [
        summary_row(scenario, conns, {"quart-blog": 800.0 + conns / 8, "flask": 500.0})
        for scenario in ("read", "write", "login-storm")
        for conns in (64, 256, 1024)
    ]
    # One server missing a figure (nothing answered) must not stop the chart.
    rows[0]["servers"]["flask"]["p99_ms"] = None
    rows.append(summary_row("slow-clients (read alone (1/2))", 256, {"quart-blog": 700.0}))
    runs = [
        storm_run(name, conns, round_no, slow)
        for name, slow in (("quart-blog", 40.0), ("flask", 900.0))
        for conns in (64, 256)
        for round_no in (1, 2)
    ]
    return {
        "started": "2026-12-01T15:50:12Z",
        "machine": {"nproc": 2},
        "config": {
            "database": "sqlite",
            "duration": 10.0,
            "storm_duration": 30.0,
            "rounds": 3,
            "scenarios": ["read", "write", "login-storm"],
        },
        "names": names,
        "rounds": [{"round": n} for n in (1, 2, 3)],
        "runs": runs,
        "summary": rows,
    }


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert 10_000 < len(data) < 200_000, (path, len(data))


def test_one_chart_per_scenario_and_the_probe_timeline(tmp_path: Path, loadtest_path: None) -> None:
    import charts

    written = charts.write_charts(results(), tmp_path, prefix="bench-")

    assert [p.name for p in written] == [
        "bench-read.png",
        "bench-write.png",
        "bench-login-storm.png",
        "bench-login-storm-probe.png",
    ]  # slow-clients: one connection count, no chart
    for path in written:
        assert path.parent == tmp_path
        assert_png(path)


def test_three_servers_and_a_db_latency_phase(tmp_path: Path, loadtest_path: None) -> None:
    import charts

    data = results()
    data["names"] = ["quart-blog", "flask-sync", "flask-gthread"]
    data["config"]["scenarios"] = ["db-latency"]
    data["runs"] = []
    data["summary"] = [
        summary_row(
            "read (db +5 ms each way)",
            conns,
            {"quart-blog": 450.0, "flask-sync": 85.0, "flask-gthread": 200.0},
        )
        for conns in (256, 1024)
    ]

    [path] = charts.write_charts(data, tmp_path)

    assert path.name == "chart-read-db-5-ms-each-way.png"
    assert_png(path)


def test_the_command_draws_beside_the_results(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(results()))

    done = subprocess.run(
        [sys.executable, str(LOADTEST / "charts.py"), str(tmp_path / "results.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    printed = [Path(line) for line in done.stdout.splitlines()]
    assert printed[0] == tmp_path / "chart-read.png"
    assert len(printed) == 4
    for path in printed:
        assert_png(path)


def test_a_flat_out_probe_keeps_the_slowest_of_each_slice(loadtest_path: None) -> None:
    import bench

    started = 1_000.0
    samples = [(started + 1 + i / 2000, 50.0 if i == 12_345 else 1.0) for i in range(56_000)]

    timeline = bench.probe_timeline(samples, started)

    assert len(timeline["t_s"]) == bench.PROBE_POINTS_MAX
    assert max(timeline["latency_ms"]) == 50.0  # the spike survives the thinning
    assert timeline["t_s"] == sorted(timeline["t_s"])
    assert timeline["kept"].startswith("the slowest probe of every")
    few = bench.probe_timeline([(started + 2.5, 3.0), (started + 1.5, 4.0)], started)
    assert few == {"kept": "every probe answered", "t_s": [1.5, 2.5], "latency_ms": [4.0, 3.0]}
