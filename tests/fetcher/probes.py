"""Backend-neutral probes: which tasks are alive right now.

The leakcheck plugin sees threads and asyncio tasks; trio tasks are not
asyncio tasks, so on trio we walk the task tree ourselves. Together they
let a test say "at this instant, nothing the fetcher started is alive" on
both backends.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import sniffio

from pytest_leakcheck import LeakChecker, Snapshot

__all__ = [
    "Baseline",
    "assert_back_to_baseline",
    "assert_own_tasks_back",
    "baseline",
    "fetcher_tasks",
    "live_task_names",
]


def live_task_names() -> list[str]:
    """Names of every unfinished task of the current event loop / trio run."""
    if sniffio.current_async_library() == "trio":
        import trio

        names: list[str] = []
        root = trio.lowlevel.current_root_task()
        assert root is not None
        stack = [root]
        while stack:
            task = stack.pop()
            names.append(task.name)
            for nursery in task.child_nurseries:
                stack.extend(nursery.child_tasks)
        return names
    return [task.get_name() for task in asyncio.all_tasks() if not task.done()]


def fetcher_tasks() -> list[str]:
    """The fetcher names its tasks "fetcher producer" / "fetcher worker N"."""
    return [name for name in live_task_names() if name.startswith("fetcher ")]


@dataclass(frozen=True)
class Baseline:
    """What was alive before the code under test ran."""

    snapshot: Snapshot
    tasks: int


def baseline(leakcheck: LeakChecker) -> Baseline:
    """Take it inside the test's event loop, so the loop's own tasks are in it."""
    return Baseline(leakcheck.snapshot(), len(live_task_names()))


async def assert_back_to_baseline(leakcheck: LeakChecker, base: Baseline) -> None:
    """Right now (no grace): no thread, no asyncio task, no trio task left over.

    ``timeout=0`` makes the plugin judge this very instant: the contract is
    that leaving the fetch block *has* stopped every producer, not that they
    will stop soon.
    """
    assert_own_tasks_back(base)
    await leakcheck.assert_no_leaks_async(base.snapshot, timeout=0)


def assert_own_tasks_back(base: Baseline) -> None:
    """Right now: the current loop (or trio run) has exactly its baseline tasks."""
    assert fetcher_tasks() == [], fetcher_tasks()
    names = live_task_names()
    assert len(names) == base.tasks, names
