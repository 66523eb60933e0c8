"""The library API without pytest's hooks, and the ``leakcheck`` fixture mid-test.

These run in this process, so every straggler they create on purpose is
released before the test ends: the outer, dogfooded check must stay clean.
"""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

from pytest_leakcheck import (
    LeakChecker,
    LeakError,
    Options,
    assert_no_leaks,
    assert_no_leaks_async,
    find_leaks,
    format_leaks,
    no_leaks,
    snapshot,
)


@pytest.fixture
def parked_thread():  # type: ignore[no-untyped-def]
    """Start a thread parked on an event; always released and joined."""
    release = threading.Event()
    threads: list[threading.Thread] = []

    def start(name: str = "parked") -> threading.Thread:
        thread = threading.Thread(target=release.wait, name=name, daemon=True)
        thread.start()
        threads.append(thread)
        return thread

    yield start
    release.set()
    for thread in threads:
        thread.join(timeout=60)


def test_find_leaks_sees_a_new_thread_and_nothing_else(parked_thread):
    before = snapshot()
    assert find_leaks(before, timeout=0) == []
    parked_thread("lib-parked")
    [leak] = find_leaks(before, timeout=0)
    assert (leak.kind, leak.name) == ("thread", "lib-parked")
    assert leak.target == "threading.Event.wait"
    assert leak.origin is not None and leak.origin.stack
    assert leak.origin.stack[-1].qualname.endswith("start")


def test_assert_no_leaks_raises_an_assertion_error_with_the_report(parked_thread):
    before = snapshot()
    parked_thread("lib-assert")
    with pytest.raises(LeakError) as info:
        assert_no_leaks(before, timeout=0)
    assert isinstance(info.value, AssertionError)
    assert "thread 'lib-assert'" in str(info.value)
    assert [leak.name for leak in info.value.leaks] == ["lib-assert"]


def test_grace_lets_a_stopping_thread_exit():
    before = snapshot()
    go = threading.Event()
    thread = threading.Thread(target=go.wait)
    thread.start()
    go.set()
    assert_no_leaks(before, timeout=30)  # waits for the exit, however slow the machine
    assert not thread.is_alive()


def test_no_leaks_context_manager_sync(parked_thread):
    with no_leaks(timeout=0):
        threading.Thread(target=lambda: None).start()  # exits within the grace
    with pytest.raises(LeakError), no_leaks(timeout=0):
        parked_thread("in-block")


def test_no_leaks_does_not_hide_the_blocks_own_error(parked_thread):
    with pytest.raises(KeyError), no_leaks(timeout=0):
        parked_thread("with-error")
        raise KeyError("the real problem")


def test_no_leaks_context_manager_async_lets_cancelled_tasks_finish():
    async def main() -> None:
        async with no_leaks(timeout=5):
            task = asyncio.create_task(asyncio.Event().wait())
            await asyncio.sleep(0)
            task.cancel()  # not awaited: the grace lets the loop finish it

        with pytest.raises(LeakError, match="task 'stuck'"):
            async with no_leaks(timeout=0):
                stuck = asyncio.create_task(asyncio.Event().wait(), name="stuck")
                await asyncio.sleep(0)
        stuck.cancel()
        await asyncio.gather(stuck, return_exceptions=True)

    asyncio.run(main())


def test_assert_no_leaks_async():
    async def main() -> None:
        before = snapshot()
        task = asyncio.create_task(asyncio.sleep(0))
        await assert_no_leaks_async(before, timeout=5)
        assert task.done()

    asyncio.run(main())


def test_options_validate_and_ignore(parked_thread):
    with pytest.raises(ValueError, match=">= 0"):
        Options(timeout=-1)
    with pytest.raises(TypeError, match="number of seconds"):
        Options(timeout="1")  # type: ignore[arg-type]
    before = snapshot()
    parked_thread("ignored-one")
    assert find_leaks(before, timeout=0, options=Options().with_ignores(["ignored-*"])) == []


@pytest.mark.parametrize("other_threads", [0, 1])
def test_a_clean_check_leaves_no_garbage_for_the_collector(parked_thread, other_threads):
    # The check runs twice per test: a reference cycle per run (it once held
    # its own frame through sys._current_frames()) is work for every
    # test's garbage collections. 50 clean checks must leave (almost) none;
    # the cycle left ~20 objects per check.
    for _ in range(other_threads):
        parked_thread("already-there")
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(50):
            assert find_leaks(snapshot(), timeout=0) == []
        garbage = gc.collect()
    finally:
        if enabled:
            gc.enable()
    assert garbage < 50, f"{garbage} objects in reference cycles after 50 clean checks"


def test_format_leaks_is_empty_for_no_leaks():
    assert format_leaks([]) == ""


def test_leak_to_dict_is_json_ready(parked_thread):
    import json

    before = snapshot()
    parked_thread("json-thread")
    [leak] = find_leaks(before, timeout=0)
    data = json.loads(json.dumps(leak.to_dict()))
    assert data["name"] == "json-thread"
    assert data["stack"] and data["started_at"]


def test_leakcheck_fixture_mid_test(leakcheck, parked_thread):
    assert isinstance(leakcheck, LeakChecker)
    leakcheck.assert_no_leaks(timeout=0)
    thread = parked_thread("mid-test")
    with pytest.raises(LeakError, match="mid-test"):
        leakcheck.assert_no_leaks(timeout=0)
    assert [leak.name for leak in leakcheck.find_leaks(timeout=0)] == [thread.name]
    later = leakcheck.snapshot()
    leakcheck.assert_no_leaks(since=later, timeout=0)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_leakcheck_fixture_async(leakcheck, anyio_backend):
    baseline = leakcheck.snapshot()
    task = asyncio.create_task(asyncio.Event().wait(), name="mid-async")
    await asyncio.sleep(0)
    with pytest.raises(LeakError, match="mid-async"):
        await leakcheck.assert_no_leaks_async(since=baseline, timeout=0)
    task.cancel()
    await leakcheck.assert_no_leaks_async(since=baseline, timeout=5)
