"""Backend-neutral probes: which tasks are alive right now.

The leakcheck plugin sees threads and asyncio tasks; trio tasks are not
asyncio tasks, so on trio we walk the task tree ourselves. Together they
let a test say "at this instant, nothing the fetcher started is alive" on
both backends.
"""

from __future__ import annotations

import asyncio

import sniffio

__all__ = ["fetcher_tasks", "live_task_names"]


def live_task_names() -> list[str]:
    """Names of every unfinished task of the current event loop / trio run."""
    if sniffio.current_async_library() == "trio":
        import trio

        names: list[str] = []
        stack = [trio.lowlevel.current_root_task()]
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
