"""The password-hashing pool: bounded, and queued work dropped when its client leaves."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from quart import Quart, request

from quart_blog.accounts.passwords import HASH_THREAD_NICENESS, HasherBusy, PasswordHasher
from quart_blog.serving import runner


def blocker(started: threading.Event, release: threading.Event) -> str:
    started.set()
    release.wait(timeout=10)
    return "done"


async def test_queued_hash_dropped_when_client_leaves(app: Quart) -> None:
    hasher = PasswordHasher(4, threads=1)
    started, release, ran = threading.Event(), threading.Event(), threading.Event()
    try:
        async with app.test_request_context("/login", method="POST"):
            busy = asyncio.ensure_future(hasher.run(blocker, started, release))  # type: ignore[arg-type]
            await asyncio.to_thread(started.wait, 5)
            queued = asyncio.ensure_future(hasher.run(lambda: ran.set()))  # type: ignore[arg-type]
            await asyncio.sleep(0)  # one loop turn: the queued task submits its hash
            assert hasher.pending == 2
            # What quart_blog.serving.runner does when the client disconnects; the thread is
            # freed at once, so a hash not cancelled there and then would run now.
            runner.abandon(request.scope)
            release.set()
            assert await busy == "done"  # already running: it finishes, its answer unused
            with pytest.raises(asyncio.CancelledError):
                await queued
        # The pool has one thread and runs in order: once this has run, so has anything
        # queued before it.
        assert await hasher.run(lambda: "after") == "after"  # type: ignore[arg-type]
        assert not ran.is_set()  # the queued check never ran
        assert hasher.pending == 0
    finally:
        release.set()
        hasher.close()


async def test_hash_queue_refuses_past_its_bound(app: Quart) -> None:
    hasher = PasswordHasher(4, threads=1, max_queued=1)
    started, release = threading.Event(), threading.Event()
    try:
        busy = asyncio.ensure_future(hasher.run(blocker, started, release))  # type: ignore[arg-type]
        await asyncio.to_thread(started.wait, 5)
        with pytest.raises(HasherBusy):
            await hasher.run(lambda: None)  # type: ignore[arg-type]
        release.set()
        assert await busy == "done"
    finally:
        release.set()
        hasher.close()


def thread_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


async def test_hashing_threads_run_below_the_event_loop() -> None:
    """During a login storm the event loop must win the CPU from the hashes."""
    hasher = PasswordHasher(4, threads=1)
    try:
        assert await hasher.run(thread_niceness) == thread_niceness() + HASH_THREAD_NICENESS
    finally:
        hasher.close()


def test_hashing_threads_run_ten_below_whatever_their_worker_runs_at() -> None:
    """Relative, not absolute: a worker started at nice 3 hashes at 13."""
    hasher = PasswordHasher(4, threads=1)
    seen: dict[str, int] = {}

    def as_a_nicer_worker() -> None:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, thread_niceness() + 3)
        seen["worker"] = thread_niceness()
        # The pool's first thread is created here, by this thread, and inherits its niceness.
        seen["hashing"] = hasher.executor.submit(thread_niceness).result(timeout=10)

    try:
        worker = threading.Thread(target=as_a_nicer_worker)
        worker.start()
        worker.join(10)
        assert seen["hashing"] == seen["worker"] + HASH_THREAD_NICENESS
    finally:
        hasher.close()
