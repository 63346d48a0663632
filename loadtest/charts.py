"""PNG charts of a ``bench.py`` results.json.

    python loadtest/charts.py RESULTS.json [--out DIR] [--prefix chart-] [--note TEXT]

For every scenario of the summary (a db-latency delay is a scenario of its own),
``PREFIX<scenario>.png``: 2xx answers per second and p99 latency against connections
(log scale), one line per server, each point the median over the rounds with a bar from
the lowest to the highest round, and with two servers ours/theirs of the medians above
each pair of points. For a login storm whose probes were timed (``probe.lua``),
``PREFIXlogin-storm-probe.png`` too: every ``/healthz`` probe's latency against the
seconds since the storm began, one panel per connection count, the rounds together.
``slow-clients`` (one connection count, alone/with pairs) gets no chart.

``bench.py`` calls ``write_charts`` at the end of each run (``OUT/chart-*.png``, beside
``OUT/results.json``); this command draws them again from a results.json. Matplotlib's
Agg canvas, no display needed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

DPI = 100
SUBTITLE_WIDTH = 100  # characters per line under a title (a 10-inch figure holds ~110)
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
MARKERS = ("o", "s", "^", "D", "v", "P")
DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
NO_CHART = ("slow-clients",)  # scenario labels starting so get no connections chart


def slug(label: str) -> str:
    """A file-name part for a scenario label: ``read (db +1 ms)`` -> ``read-db-1-ms``."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "scenario"


def number(value: float) -> str:
    """A tick or label figure: thousands separators, no needless decimals."""
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def describe(results: dict[str, Any], label: str, pooled: bool = False, note: str = "") -> str:
    """The line under a title: database, rounds, run length, machine, start time, ``note``.

    ``pooled``: the chart shows every round's points rather than medians.
    """
    config = results.get("config") or {}
    latency = config.get("scenarios") == ["db-latency"]
    database = "PostgreSQL via delayproxy" if latency else DATABASES.get(config.get("database"))
    rounds = len(results.get("rounds") or []) or config.get("rounds")
    cores = (results.get("machine") or {}).get("nproc")
    storm = label.startswith("login-storm")
    seconds = config.get("storm_duration" if storm else "duration")
    parts = [
        database or "",
        ""
        if not rounds
        else "one round"
        if rounds == 1
        else f"all {rounds} rounds together"
        if pooled
        else f"median of {rounds} rounds, bars: lowest to highest round",
        f"{'storm' if storm else 'wrk'} {seconds:g} s per run" if seconds else "",
        f"{cores} cores" if cores else "",
        f"{started[:10]} {started[11:16]} UTC" if (started := results.get("started")) else "",
        note,
    ]
    lines = [""]
    for part in filter(None, parts):  # " · " between parts, a new line before one too long
        if lines[-1] and len(lines[-1]) + len(part) > SUBTITLE_WIDTH:
            lines.append("")
        lines[-1] += (" · " if lines[-1] else "") + part
    return "\n".join(lines)


def server_names(results: dict[str, Any]) -> list[str]:
    """The servers in the order bench.py lists them (ours first)."""
    names = list(results.get("names") or [])
    for row in results.get("summary") or []:
        names += [n for n in row["servers"] if n not in names]
    return names


def scenario_rows(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The summary rows per scenario label, in the bench's order, sorted by connections."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in results.get("summary") or []:
        if not row["scenario"].startswith(NO_CHART):
            groups.setdefault(row["scenario"], []).append(row)
    return {label: sorted(rows, key=lambda r: r["conns"]) for label, rows in groups.items()}


def conns_axis(ax: Axes, conns: list[int]) -> None:
    """Log-scale connections axis with a tick at each connection count run."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(conns))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(min(conns) / 1.6, max(conns) * 1.6)
    ax.set_xlabel("connections (wrk, closed loop)")
    ax.grid(True, which="major", alpha=0.3)


def log_axis(ax: Axes) -> None:
    """A log-scale y axis labelled in plain numbers at 1, 2 and 5 of each decade."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: number(v)))
    ax.yaxis.set_minor_locator(NullLocator())


def draw_metric(
    ax: Axes, rows: list[dict[str, Any]], names: list[str], key: str
) -> list[tuple[int, float]]:
    """One line per server of ``key``'s medians with min-max bars; return (conns, max) seen."""
    tops: list[tuple[int, float]] = []
    for i, name in enumerate(names):
        shift = 1.05 ** (i - (len(names) - 1) / 2)  # side by side, so the bars do not overlap
        points = [
            (row["conns"], stats)
            for row in rows
            if (stats := (row["servers"].get(name) or {}).get(key)) is not None
        ]
        if not points:
            continue
        medians = [s["median"] for _, s in points]
        ax.errorbar(
            [c * shift for c, _ in points],
            medians,
            yerr=[
                [max(0.0, m - s["min"]) for m, (_, s) in zip(medians, points, strict=True)],
                [max(0.0, s["max"] - m) for m, (_, s) in zip(medians, points, strict=True)],
            ],
            label=name,
            color=COLORS[i % len(COLORS)],
            marker=MARKERS[i % len(MARKERS)],
            markersize=6,
            linewidth=2,
            capsize=4,
        )
        tops += [(c, s["max"]) for c, s in points]
    return tops


def annotate_ratios(
    ax: Axes, rows: list[dict[str, Any]], tops: list[tuple[int, float]], key: str
) -> None:
    """Write each row's ours/theirs ``key`` (of the medians) above the highest bar there."""
    peak: dict[int, float] = {}
    for c, top in tops:
        peak[c] = max(peak.get(c, top), top)
    for row in rows:
        ratio = row.get(key)
        if ratio is not None and row["conns"] in peak:
            ax.annotate(
                f"{ratio:.2f}×",  # noqa: RUF001 (the multiplication sign is meant)
                (row["conns"], peak[row["conns"]]),
                xytext=(0, 7),
                textcoords="offset points",
                ha="center",
                fontsize=10,
                fontweight="bold",
            )


def scenario_figure(
    label: str, rows: list[dict[str, Any]], names: list[str], subtitle: str
) -> Figure:
    """Two panels for one scenario: 2xx/s and p99 ms against connections."""
    fig = Figure(figsize=(10, 4.3), dpi=DPI, layout="constrained")
    ax_rps, ax_p99 = fig.subplots(1, 2)
    conns = [row["conns"] for row in rows]
    names = [n for n in names if any(n in row["servers"] for row in rows)]

    tops = draw_metric(ax_rps, rows, names, "ok_rps")
    conns_axis(ax_rps, conns)
    ax_rps.set_ylim(0, max((t for _, t in tops), default=1) * 1.22)
    ax_rps.yaxis.set_major_formatter(FuncFormatter(lambda v, _: number(v)))
    ax_rps.set_ylabel("2xx answers per second")
    ax_rps.set_title("Throughput (higher is better)", fontsize=11)
    if len(names) == 2:
        annotate_ratios(ax_rps, rows, tops, "ratio_ok_rps")
    ax_rps.legend(loc="best", fontsize=9)

    tops = draw_metric(ax_p99, rows, names, "p99_ms")
    conns_axis(ax_p99, conns)
    if len(names) == 2:
        annotate_ratios(ax_p99, rows, tops, "ratio_p99_ms")
    log_axis(ax_p99)
    ax_p99.set_ylabel("p99 latency (ms, log scale)")
    ax_p99.set_title("p99 latency (lower is better)", fontsize=11)
    ax_p99.set_ylim(top=max((t for _, t in tops), default=1) * 1.5)
    ax_p99.grid(True, which="major", axis="y", alpha=0.3)

    ratio = f"; figures above the points: {names[0]} ÷ {names[1]}" if len(names) == 2 else ""
    fig.suptitle(f"{label}: {' vs '.join(names)}{ratio}\n{subtitle}", fontsize=12)
    return fig


def storm_records(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The login-storm runs whose probes were timed."""
    return [
        r
        for r in results.get("runs") or []
        if r.get("scenario") == "login-storm"
        and ((r.get("healthz_probe") or {}).get("timeline") or {}).get("t_s")
    ]


def p99(values: Iterable[float]) -> float:
    """The 99th percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]


def probe_figure(records: list[dict[str, Any]], names: list[str], subtitle: str) -> Figure:
    """The login storm's /healthz probes over time: one panel per connection count."""
    conns = sorted({r["conns"] for r in records})
    fig = Figure(figsize=(10, 1.2 + 2.5 * len(conns)), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(conns), 1, sharex=True, squeeze=False)[:, 0]
    every = sorted({e for r in records if (e := r["healthz_probe"].get("every_ms")) is not None})
    for ax, c in zip(axes, conns, strict=True):
        for i, name in enumerate(names):
            runs = [r for r in records if r["conns"] == c and r["target"] == name]
            t = [x for r in runs for x in r["healthz_probe"]["timeline"]["t_s"]]
            ms = [x for r in runs for x in r["healthz_probe"]["timeline"]["latency_ms"]]
            if not t:
                continue
            ax.scatter(
                t,
                ms,
                s=7,
                alpha=0.55,
                color=COLORS[i % len(COLORS)],
                marker=MARKERS[i % len(MARKERS)],
                linewidths=0,
                label=f"{name}: p99 {number(p99(ms))} ms, max {number(max(ms))} ms, "
                f"{len(ms):,} probes in {len(runs)} run(s)",
            )
        log_axis(ax)
        ax.set_ylabel("/healthz ms (log scale)")
        ax.set_title(f"{c} login connections", fontsize=10, loc="left")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncols=len(names),
            fontsize=8,
            markerscale=2,
            frameon=False,
            borderaxespad=0.1,
        )
    axes[-1].set_xlabel("seconds since the storm began")
    axes[-1].set_xlim(left=0)
    pace = ", ".join("flat out" if e == 0 else f"every {e:g} ms" for e in every) or "paced"
    fig.suptitle(
        f"login-storm: /healthz probe latency during the storm (2 connections, {pace} each)"
        f"\n{subtitle}",
        fontsize=12,
    )
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Render ``fig`` to a PNG at ``path`` with the Agg canvas."""
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI)
    return path


def write_charts(
    results: dict[str, Any], out: Path, prefix: str = "chart-", note: str = ""
) -> list[Path]:
    """Draw every chart of ``results`` into ``out``; return the files written.

    ``note`` ends the line under every title (what the results do not say: a build, a setting).
    """
    out.mkdir(parents=True, exist_ok=True)
    names = server_names(results)
    written = [
        save(
            scenario_figure(label, rows, names, describe(results, label, note=note)),
            out / f"{prefix}{slug(label)}.png",
        )
        for label, rows in scenario_rows(results).items()
    ]
    records = storm_records(results)
    if records:
        subtitle = describe(results, "login-storm", pooled=True, note=note)
        fig = probe_figure(records, names, subtitle)
        written.append(save(fig, out / f"{prefix}login-storm-probe.png"))
    return written


def main(argv: list[str] | None = None) -> int:
    """Entry point: draw the charts of one results.json and list them."""
    p = argparse.ArgumentParser(description="PNG charts of a bench.py results.json")
    p.add_argument("results", type=Path, help="a results.json written by loadtest/bench.py")
    p.add_argument("--out", type=Path, help="folder for the PNGs (default: the results' own)")
    p.add_argument("--prefix", default="chart-", help="file name prefix (default: chart-)")
    p.add_argument("--note", default="", help="added to the line under every title")
    args = p.parse_args(argv)
    try:
        results = json.loads(args.results.read_text())
    except (OSError, ValueError) as exc:
        p.error(f"cannot read {args.results}: {exc}")
    for path in write_charts(results, args.out or args.results.parent, args.prefix, args.note):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
