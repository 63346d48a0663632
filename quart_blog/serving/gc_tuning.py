"""Garbage-collector settings for a worker that is about to serve.

CPython's cyclic collector walks every tracked container object of the
generations it collects. A worker holding a thousand keep-alive connections
has ~150,000 of them alive: the app and its libraries (~100,000, made at
start-up and never freed) plus each connection's and each in-flight
request's objects. With the default thresholds (700, 10, 10) a worker under
load ran a full collection every ~0.7 s, ~100 ms each, and spent about a
fifth of its CPU in the collector (docs/PERFORMANCE.md has the figures).

So, once start-up is done: collect what start-up left behind, freeze the
survivors (they are never examined again; reference counting still frees
them), and let far more allocations pass between young collections, so each
walk over the live requests is paid for by many more requests. Reference
counting frees almost everything a request allocates; only cyclic garbage
waits for a collection, a few megabytes at most at these thresholds.
"""

from __future__ import annotations

import gc

# Net container allocations between young collections (CPython's default is 700).
YOUNG_THRESHOLD = 50_000
# Young collections per middle one, and middle ones per full one (defaults 10, 10).
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 10


def tune_for_serving() -> None:
    """Freeze what start-up built and collect less often (call once, after start-up)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
