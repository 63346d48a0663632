"""Split a py-spy profile of one worker into per-layer shares of CPU (self time).

    py-spy record --gil -r 250 -d 10 -f raw -o read.txt -p WORKER_PID   # while wrk runs
    python loadtest/pyspy_split.py read.txt [REQUESTS_PER_SECOND]

Each sample is charged to the library of its innermost frame. With the
request rate of the run, shares become microseconds of CPU per request.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

# First match wins: innermost frame's file path -> layer.
LAYERS = [
    ("aiosqlite / sqlite3", ("aiosqlite/", "sqlite3/")),
    ("SQLAlchemy (+ greenlet)", ("sqlalchemy/", "greenlet")),
    (
        "auth + session lookup",
        ("quart_auth/", "itsdangerous/", "quart_blog/accounts/sessions", "quart_blog/security/"),
    ),
    (
        "validation + JSON",
        ("pydantic", "quart_schema/", "json/", "quart_blog/accounts/api", "quart_blog/posts/api"),
    ),
    ("Quart + Werkzeug + Jinja", ("quart/", "werkzeug/", "flask/", "jinja2/", "markupsafe/")),
    ("Hypercorn + h11 + event loop", ("hypercorn/", "h11/", "h2/", "asyncio/", "uvloop")),
    ("quart_blog (other)", ("quart_blog/",)),
]


def layer_of(frame: str) -> str:
    """The layer a ``function (path:line)`` frame belongs to."""
    for name, markers in LAYERS:
        if any(marker in frame for marker in markers):
            return name
    return "other (stdlib, C)"


def split(path: Path) -> tuple[collections.Counter[str], int]:
    """Samples per layer, and the total."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack:
            continue
        samples = int(number)
        total += samples
        counts[layer_of(stack.split(";")[-1])] += samples
    return counts, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy --format raw output")
    parser.add_argument("rps", nargs="?", type=float, help="request rate of that worker")
    parser.add_argument("--rate", type=float, default=250.0, help="py-spy sampling rate (Hz)")
    parser.add_argument("--seconds", type=float, default=10.0, help="py-spy duration")
    args = parser.parse_args()
    counts, total = split(args.profile)
    busy = total / (args.rate * args.seconds)
    print(f"samples: {total} (main thread busy {100 * busy:.0f}% of the time)")
    print("| layer | share | µs/request |")
    print("| --- | ---: | ---: |")
    for name, samples in counts.most_common():
        share = samples / total
        per_request = f"{1e6 * busy * share / args.rps:.0f}" if args.rps else "-"
        print(f"| {name} | {100 * share:.1f}% | {per_request} |")


if __name__ == "__main__":
    main()
