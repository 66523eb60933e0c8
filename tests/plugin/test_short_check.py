"""The clean check's short answer: taken only when nothing new can be alive.

When nothing was started through the instrumentation, nothing reaped, the
same Python and OS threads run and no pool worker exists, a check answers
clean without listing threads and tasks. These hold it to that: anything
started, even a thread already joined, or a thread no ``threading`` API
started, sends the check down the full scan.
"""

from __future__ import annotations

import _thread
import threading
from dataclasses import replace

from pytest_leakcheck import _patches
from pytest_leakcheck._frames import thread_frames
from pytest_leakcheck._snapshot import _unchanged, snapshot
from pytest_leakcheck._verdict import find_leaks


def setup_module() -> None:
    _patches.install()


def teardown_module() -> None:
    _patches.uninstall()


def test_nothing_started_is_unchanged_unless_a_pool_worker_could_take_work() -> None:
    # Earlier tests in this process may have left idle pool workers (trio's
    # thread cache, an executor's): then the short answer is not taken.
    since = snapshot()
    frames = thread_frames()
    assert _unchanged(since, frames, native=True) is (not since.pool_jobs)
    assert _unchanged(replace(since, pool_jobs={}), frames, native=True)


def test_a_thread_started_and_joined_is_a_change() -> None:
    since = snapshot()
    thread = threading.Thread(target=int)
    thread.start()
    thread.join()
    assert not _unchanged(since, thread_frames(), native=True)
    assert find_leaks(since, timeout=0) == []  # and the full scan finds it gone


def test_a_thread_no_threading_api_started_is_still_found() -> None:
    since = snapshot()
    release, started = _thread.allocate_lock(), threading.Event()
    release.acquire()

    def body() -> None:
        started.set()
        with release:
            pass

    _thread.start_new_thread(body, ())
    started.wait()
    try:
        assert not _unchanged(since, thread_frames(), native=True)
        leaks = find_leaks(since, timeout=0)
        assert [leak.kind for leak in leaks] == ["python thread"]
    finally:
        release.release()
