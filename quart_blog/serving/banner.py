"""One "Running on ..." line per worker on the console, not one per listening socket.

Hypercorn logs the line for every socket it serves; each worker listens on
``LISTEN_SOCKETS_PER_WORKER`` sockets per address (see ``sockets.py``), so a worker
printed the same line eight times. A filter on Hypercorn's error logger lets the first
of each through (the log format already names the worker's process id).
"""

from __future__ import annotations

import logging

RUNNING_ON = "Running on "


class OneBannerPerWorker(logging.Filter):
    """Drop repeats of a worker's "Running on ADDRESS" line."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(RUNNING_ON):
            return True
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def one_banner_per_worker() -> None:
    """Install the filter in this worker (idempotent)."""
    logger = logging.getLogger("hypercorn.error")
    if not any(isinstance(f, OneBannerPerWorker) for f in logger.filters):
        logger.addFilter(OneBannerPerWorker())
