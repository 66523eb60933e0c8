"""asyncio's own registry of tasks, read in one pass.

3.10-3.13 keep every task of the process in module-level sets of
``asyncio.tasks`` (``asyncio.all_tasks(loop)`` filters them for one loop,
through a Python-level WeakSet iterator, every time). A check wants the
pending tasks of every loop at once, on every test: copying the sets in C
and filtering once costs a fraction of that. 3.14 keeps tasks per thread in
C: there the answer is ``None`` and callers ask ``asyncio.all_tasks(loop)``.
"""

from __future__ import annotations

import asyncio
import sys
import weakref
from typing import Any

__all__ = ["module_tasks", "registered_count", "tasks_of"]


def tasks_of(loop: asyncio.AbstractEventLoop) -> list[Any]:
    """The pending tasks of *loop* (``asyncio.all_tasks(loop)``, in one pass where it can)."""
    tasks = module_tasks()
    if tasks is None:
        return list(asyncio.all_tasks(loop))
    return [t for t in tasks if not t.done() and t.get_loop() is loop]


#: Where asyncio keeps every task of the process: a WeakSet (3.10-3.13) and,
#: from 3.12, a plain set of eager tasks. 3.14 keeps them per thread, in C.
_TASK_SETS = ("_all_tasks",) if sys.version_info < (3, 12) else ("_scheduled_tasks", "_eager_tasks")


def module_tasks() -> list[Any] | None:
    """Every task of the process, from asyncio's module-level sets (None: not there)."""
    sets = _task_sets()
    if sets is None:
        return None
    found: list[Any] = []
    for tasks in sets:
        found.extend(weakset_items(tasks) if isinstance(tasks, weakref.WeakSet) else _copy(tasks))
    return found


def _task_sets() -> list[Any] | None:
    """asyncio's module-level task sets (WeakSets or sets; None: not there)."""
    sets = [getattr(asyncio.tasks, name, None) for name in _TASK_SETS]
    if all(isinstance(tasks, (weakref.WeakSet, set)) for tasks in sets):
        return sets
    return None


def _copy(items: set[Any]) -> list[Any]:
    for _ in range(100):
        try:
            return list(items)
        except RuntimeError:  # changed size during iteration in another thread
            continue
    return []


def weakset_items(ws: Any) -> list[Any]:
    """The live members of *ws*, copied in C (the set may change in another thread)."""
    return [t for ref in _copy(ws.data) if (t := ref()) is not None]


def registered_count() -> int | None:
    """How many tasks asyncio's module-level sets hold now (None: not there).

    Every task built (through ``create_task`` or not) is added there, so a
    count that has not grown says no task was built since, unless as many
    were freed meanwhile (see :func:`~._snapshot.snapshot`).
    """
    sets = _task_sets()
    if sets is None:
        return None
    count = 0
    for tasks in sets:
        # (a WeakSet's __len__ is Python: its data's, whose dead members only lower it later)
        count += len(tasks.data if isinstance(tasks, weakref.WeakSet) else tasks)  # type: ignore[attr-defined]
    return count
