"""Leak evidence: what the submission left running, as a person-readable report.

The plugin's library API does the work (threads, asyncio tasks on any loop,
trio task trees, where each was started); :func:`_library_check` is the only
place that calls it. The grader's own tasks are named ``kata-grader ...`` (and
the worker's main task runs :func:`leakcheck_kata.worker.kata_grader_main`)
so they can be left out by name: they are not the submission's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Check = Callable[[float, bool], str]
"""``check(grace, exit_blockers_only)``: the leak report since a snapshot, "" if none."""

GRADER_TASKS = ("kata-grader*", "*kata_grader_main")
"""Name globs of the grader's own tasks."""


def start_recording() -> None:
    """Begin recording where threads and tasks start, before the submission loads."""
    _library_check(())


class LeakProbe:
    """Snapshot at construction; :meth:`report` says what appeared since ("" if nothing)."""

    def __init__(self, ignore_names: Sequence[str] = GRADER_TASKS) -> None:
        """*ignore_names*: globs naming tasks or threads that are not the submission's."""
        self._library = _library_check(tuple(ignore_names))

    def report(self) -> str:
        """What is alive at this instant that was not at the snapshot (no grace)."""
        return self._library(0.0, False)

    def exit_blockers(self, grace: float) -> str:
        """Non-daemon threads still alive after *grace*: they would keep a program from exiting."""
        return self._library(grace, True)


def _library_check(ignore_names: Sequence[str]) -> Check:
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
