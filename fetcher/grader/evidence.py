"""Leak evidence: what the submission left running, as a person-readable report.

The plugin's library API does the real work (threads, asyncio tasks on any
loop, where each was started); :func:`_library_check` is the only place that
calls it. Trio tasks are outside that API's scope, so on trio the grader also
walks the task tree itself: a trio task the submission left behind can only
live on in a nursery it did not close, or as a system task.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

import sniffio

Check = Callable[[float, bool], str]
"""``check(grace, exit_blockers_only)``: the leak report since a snapshot, "" if none."""


def start_recording() -> None:
    """Begin recording where threads and tasks start, before the submission loads."""
    _library_check()


class LeakProbe:
    """Snapshot at construction; :meth:`report` says what appeared since ("" if nothing)."""

    def __init__(self, ignore_names: Sequence[str] = ()) -> None:
        """*ignore_names*: globs naming the grader's own tasks, which are not the submission's."""
        self._ignore = tuple(ignore_names)
        self._library = _library_check(self._ignore)
        self._trio_before = _trio_tasks()  # holds the tasks, so their ids stay unique

    def report(self) -> str:
        """What is alive at this instant that was not at the snapshot (no grace)."""
        parts = [self._library(0.0, False)]
        current = _trio_current()
        trio_new = [t for k, t in _trio_tasks().items() if k not in self._trio_before
                    and t is not current
                    and not any(fnmatch.fnmatchcase(t.name, g) for g in self._ignore)]
        if trio_new:
            parts.append(_describe_trio(trio_new))
        return "\n".join(p for p in parts if p)

    def exit_blockers(self, grace: float) -> str:
        """Non-daemon threads still alive after *grace*: they would keep a program from exiting."""
        return self._library(grace, True)


def _library_check(ignore_names: Sequence[str] = ()) -> Check:
    """Take a snapshot with pytest_leakcheck; return the function that judges since then."""
    from pytest_leakcheck import Options, find_leaks, format_leaks, snapshot

    options = Options().with_ignores(f"name:{glob}" for glob in ignore_names)
    before = snapshot()

    def check(grace: float, exit_blockers_only: bool) -> str:
        leaks = find_leaks(before, timeout=grace, options=options)
        if exit_blockers_only:
            leaks = [leak for leak in leaks if leak.blocks_exit]
        return format_leaks(leaks, who="the submission") if leaks else ""

    return check


def _on_trio() -> bool:
    try:
        return sniffio.current_async_library() == "trio"
    except sniffio.AsyncLibraryNotFoundError:
        return False


def _trio_current() -> Any:
    if not _on_trio():
        return None
    import trio

    return trio.lowlevel.current_task()


def _trio_tasks() -> dict[int, Any]:
    """Every task in the trio run, by id (the caller is excluded when judging, not here)."""
    if not _on_trio():
        return {}
    import trio

    found: dict[int, Any] = {}
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task is None:
            continue
        found[id(task)] = task
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return found


def _describe_trio(tasks: list[Any]) -> str:
    lines = [f"{len(tasks)} trio task(s) still running:"]
    for task in tasks[:5]:
        lines.append(f"  trio task {task.name!r}")
        coro = task.coro
        while coro is not None:
            frame = getattr(coro, "cr_frame", None)
            if frame is None:
                break
            code = frame.f_code
            lines.append(f"    {code.co_filename}:{frame.f_lineno} in {code.co_name}")
            coro = getattr(coro, "cr_await", None)
    return "\n".join(lines)
