"""Creation sites captured cheaply give the same frames and lines as an eager walk.

A capture keeps code objects and offsets and resolves them when a report
asks; inside a running event loop it stops where the loop's own frames
begin and shares the frames above the run between the starts of that run.
These tests hold it to the eager walk (``frame_stack``) frame for frame,
less the loop's plumbing, including where sharing could go stale (two runs
from two lines of one function, a loop in another thread), and check that
a capture keeps no frame alive and that the session sweeps what died.
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
from pytest_leakcheck._provenance import PROVENANCE, Origins

#: The loop's own frames between a task's step and the run's caller: a
#: capture inside a run leaves them out (reports fold them anyway).
_LOOP_PLUMBING = {"BaseEventLoop.run_forever", "BaseEventLoop._run_once", "Handle._run"}


def _eager(frame: FrameType) -> tuple[FrameRecord, ...]:
    records = frame_stack(frame, stop_at_runner=True)
    if not any(r.qualname in _LOOP_PLUMBING for r in records):
        return records
    return tuple(
        r
        for r in records
        if r.qualname not in _LOOP_PLUMBING
        and not (r.module == "pytest_leakcheck._patches" and r.qualname.endswith("run_forever"))
    )


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
    names = {r.qualname for r in first[0][0]}
    assert "BaseEventLoop.run_until_complete" in names
    assert not names & _LOOP_PLUMBING


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


def test_origins_hold_weakly_and_answer_for_the_dying_until_swept() -> None:
    origins = Origins()
    marker = _Marker()
    origins.record(marker, None, ("call", None, "MainThread"))
    found = origins.get(marker)
    assert found is not None and found.phase == "call"
    key, ref = id(marker), weakref.ref(marker)
    del marker
    assert ref() is None  # the record kept nothing alive
    # a finalizer still asks by the dying object's id: the record answers until swept
    assert origins._data[key][2] == ("call", None, "MainThread")
    origins.sweep()
    assert key not in origins._data


def test_without_leaf_drops_the_innermost_frames_of_a_package() -> None:
    sites = capture_stack()
    module = sites.records()[-1].module
    stripped = sites.without_leaf(module)
    assert stripped.records() == sites.records()[:-1]
    assert sites.without_leaf("no.such.package.").records() == sites.records()
