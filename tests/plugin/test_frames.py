"""Creation sites captured cheaply give the same frames and lines as an eager walk.

A capture keeps code objects and offsets and resolves them when a report
asks; inside a running asyncio loop it shares the frames above
``run_forever`` between starts of the same run. These tests hold it to the
eager walk (``frame_stack``) frame for frame, including where sharing could
go stale (two runs from two lines of one function), and check that a
capture keeps no frame alive.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref
from types import FrameType

from pytest_leakcheck._frames import FrameRecord, Sites, capture_stack, frame_stack


def _both() -> tuple[tuple[FrameRecord, ...], tuple[FrameRecord, ...]]:
    """(the lazy capture, the eager walk) of the caller's stack."""
    lazy = capture_stack(1).records()
    return lazy, frame_stack(sys._getframe(1), stop_at_runner=True)


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
    assert any(r.qualname == "BaseEventLoop.run_forever" for r in first[0][0])


def test_starts_in_one_run_share_the_outer_frames() -> None:
    async def two() -> tuple[Sites, Sites]:
        return capture_stack(), capture_stack()

    one, other = asyncio.run(two())
    assert one[1] and one[1] is other[1]
    assert one.records()[:-1] == other.records()[:-1]
    assert one.records()[-1].lineno == other.records()[-1].lineno


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


def test_without_leaf_drops_the_innermost_frames_of_a_package() -> None:
    sites = capture_stack()
    module = sites.records()[-1].module
    stripped = sites.without_leaf(module)
    assert stripped.records() == sites.records()[:-1]
    assert sites.without_leaf("no.such.package.").records() == sites.records()
