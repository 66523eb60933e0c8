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
import operator
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

_read_sets = operator.attrgetter(*_TASK_SETS)


def _named() -> tuple[Any, ...]:
    """What asyncio names its task sets now, read in one C call (``vars()``
    and ``map`` cost three times the rest of a count)."""
    try:
        found = _read_sets(asyncio.tasks)
    except AttributeError:  # not there: the sets cannot be read
        return (None,)
    return found if len(_TASK_SETS) > 1 else (found,)


class _Registry:
    """asyncio's task sets, told apart once: every check reads them, and
    looking them up and checking their types each time cost more than
    counting them. Looked up again if asyncio's module names other objects
    (an identity test per read)."""

    def __init__(self) -> None:
        self.named: tuple[Any, ...] = ()
        #: (the set to read, whether it holds weak references): a WeakSet's
        #: own ``data``, whose ``len`` is C (the WeakSet's is Python)
        self.sets: list[tuple[set[Any], bool]] | None = None

    def current(self) -> list[tuple[set[Any], bool]] | None:
        named = _named()
        if named != self.named:  # (each member by identity first: cheap while unchanged)
            self.named, self.sets = named, self._tell_apart(named)
        return self.sets

    @staticmethod
    def _tell_apart(named: tuple[Any, ...]) -> list[tuple[set[Any], bool]] | None:
        sets: list[tuple[set[Any], bool]] = []
        for tasks in named:
            if isinstance(tasks, weakref.WeakSet):
                sets.append((tasks.data, True))  # type: ignore[attr-defined]
            elif isinstance(tasks, set):
                sets.append((tasks, False))
            else:
                return None
        return sets


_REGISTRY = _Registry()


def module_tasks() -> list[Any] | None:
    """Every task of the process, from asyncio's module-level sets (None: not there)."""
    sets = _REGISTRY.current()
    if sets is None:
        return None
    found: list[Any] = []
    for tasks, weak in sets:
        found.extend(_alive(tasks) if weak else _copy(tasks))
    return found


def _copy(items: set[Any]) -> list[Any]:
    for _ in range(100):
        try:
            return list(items)
        except RuntimeError:  # changed size during iteration in another thread
            continue
    return []


def _alive(refs: set[Any]) -> list[Any]:
    return [t for ref in _copy(refs) if (t := ref()) is not None]


def registered_count() -> int | None:
    """How many tasks asyncio's module-level sets hold now (None: not there).

    Every task built (through ``create_task`` or not) is added there, so a
    count that has not grown says no task was built since, unless as many
    were freed meanwhile (see :func:`~._snapshot.snapshot`).
    """
    sets = _REGISTRY.current()
    if sets is None:
        return None
    count = 0
    for tasks, _ in sets:
        count += len(tasks)  # (a WeakSet's dead members only lower it later)
    return count
