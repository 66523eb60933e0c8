"""The clean check's short answer, and the snapshot that is the last look again.

When nothing was started through the instrumentation, nothing reaped, the
same Python and OS threads run and no pool worker exists, a check answers
clean without listing threads and tasks, and a snapshot is the last full
look (a snapshot, or a check that listed everything and found nothing). These
hold both to that: anything started, even a thread already joined, a thread
no ``threading`` API started, or a task built without ``create_task``, sends
the check down the full scan and makes the next snapshot a new one.
"""

from __future__ import annotations

import _thread
import asyncio
import textwrap
import threading
import weakref
from dataclasses import replace
from typing import Any

import pytest

from pytest_leakcheck import _patches
from pytest_leakcheck._frames import thread_frames
from pytest_leakcheck._provenance import PROVENANCE, Origins
from pytest_leakcheck._snapshot import _unchanged, snapshot
from pytest_leakcheck._tasks import _TASK_SETS, module_tasks, registered_count
from pytest_leakcheck._verdict import find_leaks


def setup_module() -> None:
    _patches.install()


def teardown_module() -> None:
    _patches.uninstall()


async def _forever() -> None:
    await asyncio.Event().wait()


def test_nothing_started_is_unchanged_unless_a_pool_worker_could_take_work() -> None:
    # Earlier tests in this process may have left idle pool workers (trio's
    # thread cache, an executor's): then the short answer is not taken.
    since = snapshot()
    frames = thread_frames()
    assert _unchanged(since, frames, native=True) is (not since.pool_jobs)
    assert _unchanged(replace(since, pool_jobs={}), frames, native=True)


def test_a_thread_still_running_is_a_change() -> None:
    since = snapshot()
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not _unchanged(since, thread_frames(), native=True)
        later = snapshot()
        assert later.had_thread(thread)  # not the earlier look again
    finally:
        release.set()
        thread.join()
    assert find_leaks(since, timeout=0) == []  # and the full scan finds it gone


def test_a_task_still_pending_is_a_change() -> None:
    loop = asyncio.new_event_loop()
    try:
        since = snapshot()
        task = loop.create_task(_forever())
        assert not _unchanged(since, thread_frames(), native=True)
        assert snapshot().had_task(task)
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    finally:
        loop.close()


def test_more_starts_than_the_ring_holds_is_a_change() -> None:
    since = replace(snapshot(), pool_jobs={})
    for _ in range(PROVENANCE.RECENT + 1):
        thread = threading.Thread(target=int)
        thread.start()
        thread.join()
    assert PROVENANCE.started_since(since.starts) is None
    assert not _unchanged(since, thread_frames(), native=False)


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


def test_a_snapshot_with_nothing_new_since_is_the_last_look() -> None:
    first = snapshot()
    # (a pool worker left by an earlier test could take work: then it is new)
    assert (snapshot() is first) is (not first.pool_jobs)


def test_a_task_built_without_create_task_makes_a_new_look() -> None:
    loop = asyncio.new_event_loop()
    try:
        first = snapshot()
        task = asyncio.Task(_forever(), loop=loop)  # no create_task: no start counted
        later = snapshot()
        assert later is not first
        assert later.had_task(task)
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    finally:
        loop.close()


_BETWEEN_TESTS = {
    "a thread": """
        release = threading.Event()
        threading.Thread(target=release.wait, daemon=True).start()
        KEPT.append(release)
    """,
    "a task built without create_task": """
        loop = asyncio.new_event_loop()
        KEPT.extend([loop, asyncio.Task(forever(), loop=loop)])
    """,
}


@pytest.mark.parametrize("what", list(_BETWEEN_TESTS))
def test_what_starts_between_two_tests_is_not_the_next_tests(
    pytester: pytest.Pytester, run_leakcheck: Any, what: str
) -> None:
    """A hook between two tests starts something that stays alive: it is not
    the second test's (that test's snapshot cannot be the first one's check)."""
    pytester.makeconftest(
        """
        import asyncio
        import threading

        KEPT = []


        async def forever():
            await asyncio.Event().wait()


        def pytest_runtest_logfinish(nodeid):
            if nodeid.endswith("test_first"):
        """
        + textwrap.indent(textwrap.dedent(_BETWEEN_TESTS[what]), " " * 16)
    )
    result = run_leakcheck(
        """
        import asyncio

        DONE = []


        def test_first():
            pass


        def test_second():
            # A finished task built by hand and kept: asyncio's task sets grew by one
            # that no start explains, so this check is the full scan, which sees all.
            loop = asyncio.new_event_loop()
            DONE.append(asyncio.Task(asyncio.sleep(0), loop=loop))
            loop.run_until_complete(DONE[0])
            loop.close()
        """
    )
    result.assert_outcomes(passed=2)
    assert "0 left stragglers" in result.stdout.str()


def test_a_task_built_without_create_task_in_a_quiet_test_is_found(run_leakcheck: Any) -> None:
    """The one start the instrumentation does not see still makes the check look."""
    result = run_leakcheck(
        """
        import asyncio

        KEPT = []


        async def forever():
            await asyncio.Event().wait()


        def test_builds_a_task_by_hand():
            loop = asyncio.new_event_loop()
            KEPT.extend([loop, asyncio.Task(forever(), loop=loop)])
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*test_builds_a_task_by_hand*", "*task*forever*"])


class _Started:
    """Something weakly referenceable to record starts of."""


@pytest.mark.parametrize("count", [1, PROVENANCE.RECENT - 1, PROVENANCE.RECENT])
@pytest.mark.parametrize("offset", [0, PROVENANCE.RECENT // 2])
def test_the_ring_lists_every_start_since_in_order(count: int, offset: int) -> None:
    origins = Origins()
    before = PROVENANCE.starts
    earlier = [_Started() for _ in range(offset)]  # the count starts elsewhere on the ring
    for obj in earlier:
        PROVENANCE.record_start(origins, obj, 0, stack=False)
    since = PROVENANCE.starts
    started = [_Started() for _ in range(count)]
    for obj in started:
        PROVENANCE.record_start(origins, obj, 0, stack=False)
    assert PROVENANCE.started_since(since) == started
    assert PROVENANCE.started_since(since + count) == []
    expected = earlier + started if offset + count <= PROVENANCE.RECENT else None
    assert PROVENANCE.started_since(before) == expected
    del expected, obj, started[::2]  # what was freed is not listed
    assert PROVENANCE.started_since(since) == started


def test_task_sets_are_looked_up_again_when_asyncio_names_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # They are told apart once and re-checked by identity on every read.
    assert registered_count() is not None
    stand_in: weakref.WeakSet[Any] = weakref.WeakSet()
    marker = _Member()
    stand_in.add(marker)
    for name in _TASK_SETS:
        monkeypatch.setattr(asyncio.tasks, name, stand_in if name == _TASK_SETS[0] else set())
    assert module_tasks() == [marker]
    assert registered_count() == 1
    monkeypatch.setattr(asyncio.tasks, _TASK_SETS[0], object())  # not a set: not countable
    assert registered_count() is None and module_tasks() is None


class _Member:
    """A weakly referenceable stand-in for a task."""
