"""Creation sites captured cheaply give the same frames and lines as an eager walk.

A capture keeps code objects and offsets and resolves them when a report
asks; inside a running event loop it stops where the loop's own frames
begin and shares the frames above the run between the starts of that run.
These tests hold it to the eager walk (``frame_stack``) frame for frame,
less the loop's plumbing, including where sharing could go stale (two runs
from two lines of one function, a loop in another thread), and check that
a capture keeps no frame alive and that the records of what died are
forgotten, the map staying within twice what is alive.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import weakref
from types import FrameType

from pytest_leakcheck import _patches
from pytest_leakcheck._frames import FrameRecord, Sites, capture_stack, frame_stack
from pytest_leakcheck._provenance import PROVENANCE, Origins, Provenance
from pytest_leakcheck._values import Origin

#: The loop's own frames between a task's step and the run's caller: a
#: capture inside a run leaves them out (reports fold them anyway), and the
#: instrumented run_forever that marks the run.
_LOOP_PLUMBING = {"run_forever", "_run_once", "_run"}


def _plumbing(record: FrameRecord) -> bool:
    # by function name: 3.10's eager walk names a method by its class's attribute,
    # which is the wrapper now, so it may print a bare "run_forever"
    name = record.qualname.rsplit(".", 1)[-1]
    ours = record.module == "pytest_leakcheck._patches"
    return name in _LOOP_PLUMBING and (record.module.startswith("asyncio.") or ours)


def _eager(frame: FrameType) -> tuple[FrameRecord, ...]:
    records = frame_stack(frame, stop_at_runner=True)
    if not any(_plumbing(r) for r in records):
        return records
    return tuple(r for r in records if not _plumbing(r))


def _both() -> tuple[tuple[FrameRecord, ...], tuple[FrameRecord, ...]]:
    """(the lazy capture, the eager walk less the loop's plumbing) of the caller's stack."""
    lazy = capture_stack(1).records()
    return lazy, _eager(sys._getframe(1))


def setup_module() -> None:
    _patches.install()  # the run_forever wrapper marks the runs, with or without --leakcheck


def teardown_module() -> None:
    _patches.uninstall()


def test_a_sync_capture_matches_the_eager_walk() -> None:
    lazy, eager = _both()
    assert lazy == eager
    assert lazy[-1].qualname == "test_a_sync_capture_matches_the_eager_walk"
    assert lazy[-1].lineno == sys._getframe().f_lineno - 3


async def _nested() -> list[tuple[tuple[FrameRecord, ...], tuple[FrameRecord, ...]]]:
    first = _both()
    await asyncio.sleep(0)
    return [first, _both()]


async def _captures() -> list[tuple[tuple[FrameRecord, ...], tuple[FrameRecord, ...]]]:
    pairs = [_both()]
    await asyncio.sleep(0)
    pairs.append(_both())
    pairs.extend(await _nested())
    for more in await asyncio.gather(asyncio.create_task(_nested()), _nested()):
        pairs.extend(more)
    return pairs


def test_captures_inside_a_loop_share_its_frames_and_stay_exact() -> None:
    first = asyncio.run(_captures())
    second = asyncio.run(_captures())  # a second run from another line: nothing stale
    for lazy, eager in first + second:
        assert lazy == eager
    # the test's own line differs between the two runs, and the capture says so
    name = "test_captures_inside_a_loop_share_its_frames_and_stay_exact"
    (line_one,) = {r.lineno for r in first[0][0] if r.qualname == name}
    (line_two,) = {r.lineno for r in second[0][0] if r.qualname == name}
    assert line_one + 1 == line_two
    assert any(r.qualname.endswith("run_until_complete") for r in first[0][0])
    assert not any(_plumbing(r) for r in first[0][0])


def test_a_loop_in_another_thread_has_its_own_run() -> None:
    async def capture() -> list[tuple[tuple[FrameRecord, ...], tuple[FrameRecord, ...]]]:
        return [_both()]

    def run_in_thread() -> None:
        found.extend(asyncio.run(capture()))

    found: list[tuple[tuple[FrameRecord, ...], tuple[FrameRecord, ...]]] = []
    here = asyncio.run(capture())
    thread = threading.Thread(target=run_in_thread)
    thread.start()
    thread.join()
    (lazy, eager), (lazy_here, _) = found[0], here[0]
    assert lazy == eager
    assert any(r.qualname.endswith("run_in_thread") for r in lazy)
    assert not any(r.qualname.endswith("run_in_thread") for r in lazy_here)


def test_a_task_created_before_its_loop_runs_gets_the_whole_stack() -> None:
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(asyncio.sleep(0))  # not in a run: walked to the runner's entry
        origin = PROVENANCE.task_origins.get(task)
        assert origin is not None and origin.sites is not None and not origin.sites[1]
        assert origin.stack is not None
        assert origin.stack[-1].qualname == sys._getframe().f_code.co_name
        loop.run_until_complete(task)
    finally:
        loop.close()


def test_the_main_task_of_a_run_shares_the_frames_above_the_run() -> None:
    """``run_until_complete(coro)`` starts its main task inside the run's
    wrapper: the capture stops there and takes the run's tail, the same
    frames an eager walk from inside the task finds above the run."""
    loop = asyncio.new_event_loop()

    async def main() -> tuple[Origin | None, tuple[FrameRecord, ...]]:
        return PROVENANCE.task_origins.get(asyncio.current_task()), _eager(sys._getframe())

    try:
        origin, eager = loop.run_until_complete(main())
    finally:
        loop.close()
    assert origin is not None and origin.sites is not None and origin.sites[1]  # shared tail
    lazy = origin.stack
    assert lazy is not None
    here = sys._getframe().f_code.co_name
    at = next(i for i, r in enumerate(lazy) if r.qualname == here)
    # the same frames down to this test's line and the run's wrapper, then the
    # loop's run_until_complete (at another line: it went on to run the loop)
    assert lazy[: at + 2] == eager[: at + 2]
    # (by the function's own name: 3.10's eager walk names a method by its class's
    # attribute, which is the wrapper now)
    names = {r.qualname.rsplit(".", 1)[-1] for r in (lazy[at + 2], eager[at + 2])}
    assert names == {"run_until_complete"}
    assert lazy[at + 2].module == eager[at + 2].module == "asyncio.base_events"


class _Marker:
    pass


def _capture_with_a_local() -> tuple[Sites, weakref.ref[_Marker]]:
    local = _Marker()
    return capture_stack(), weakref.ref(local)


def test_a_capture_keeps_no_frame_alive() -> None:
    sites, ref = _capture_with_a_local()
    assert ref() is None  # the frame, and its locals, went away at once
    seen: set[int] = set()
    todo: list[object] = [sites]
    while todo:  # nothing reachable from the capture is a frame
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        assert not isinstance(obj, FrameType)
        if isinstance(obj, (Sites, tuple, list)):
            todo.extend(gc.get_referents(obj))
    assert sites.records()[-1].qualname == "_capture_with_a_local"


def _recorder() -> tuple[Provenance, Origins]:
    """A provenance of its own (no owner pushed: its context is its phase and thread)."""
    provenance = Provenance()
    provenance.phase = "call"
    return provenance, provenance.task_origins


def test_origins_hold_weakly_and_answer_for_the_dying_until_swept() -> None:
    provenance, origins = _recorder()
    marker = _Marker()
    provenance.record_start(origins, marker, 0, stack=False)
    found = origins.get(marker)
    assert found is not None and found.phase == "call"
    key, ref = id(marker), weakref.ref(marker)
    del marker
    assert ref() is None  # the record kept nothing alive
    # a finalizer still asks by the dying object's id: the record answers until swept
    assert origins._data[key][2] == ("call", None, "MainThread")
    origins.sweep()
    assert key not in origins._data


def test_origins_stay_within_twice_what_is_alive() -> None:
    provenance, origins = _recorder()
    alive = [_Marker() for _ in range(100)]
    for marker in alive:
        provenance.record_start(origins, marker, 0, stack=False)
    for _ in range(5 * Origins.SWEEP_MIN):  # short-lived objects, as tasks mostly are
        provenance.record_start(origins, _Marker(), 0, stack=False)
    assert len(origins._data) <= Origins.SWEEP_MIN
    assert all(origins.get(marker) is not None for marker in alive)


def _trio_start_stack(guest: bool) -> tuple[FrameRecord, ...]:
    """Where a trio task was started, as recorded, in a trio.run or a guest run."""
    import trio

    from pytest_leakcheck import _trio

    stacks: list[tuple[FrameRecord, ...]] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep, 0)
            task = next(iter(nursery.child_tasks))
            origin = _trio.describe(task, _trio.origin(task)).origin  # as a report shows it
            assert origin is not None and origin.stack is not None
            stacks.append(origin.stack)

    if not guest:
        trio.run(main)
        return stacks[0]

    async def host() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        trio.lowlevel.start_guest_run(
            main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=lambda outcome: done.set_result(outcome),
        )
        (await done).unwrap()

    asyncio.run(host())
    return stacks[0]


def test_a_trio_task_started_in_trio_run_names_the_caller_of_the_run() -> None:
    stack = _trio_start_stack(guest=False)
    assert stack[-1].qualname.endswith("main")  # trio's spawn machinery is left out
    assert any(r.qualname == "_trio_start_stack" for r in stack)


def test_a_trio_task_of_a_guest_run_stops_at_the_run() -> None:
    # above a guest run's loop is whatever drives its current tick (here an
    # asyncio callback), not where anything was started
    stack = _trio_start_stack(guest=True)
    assert stack[-1].qualname.endswith("main")
    assert not any(r.qualname == "_trio_start_stack" for r in stack)
    assert not any(r.module.startswith("asyncio.") for r in stack)


def test_without_leaf_drops_the_innermost_frames_of_a_package() -> None:
    sites = capture_stack()
    module = sites.records()[-1].module
    stripped = sites.without_leaf(module)
    assert stripped.records() == sites.records()[:-1]
    assert sites.without_leaf("no.such.package.").records() == sites.records()
