"""Every event loop that may hold a straggler, and the pending tasks on them.

Where asyncio keeps every task of the process in module-level sets
(3.10-3.13, :mod:`._tasks`), those answer for every loop at once, including
loops we did not see built (uvloop's, or one made before install). asyncio
has no registry of loops: on 3.14, where it is needed, the patches add each
loop as it is built (or first makes a task), and that registry and the
running loop answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from ._provenance import PROVENANCE
from ._tasks import module_tasks

__all__ = ["LOOPS", "Loops"]


class Loops:
    """The open loops we know of, held weakly."""

    def __init__(self) -> None:
        self.loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._strange_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()

    @staticmethod
    def registry_needed() -> bool:
        """Must the patches add loops here as they are built? Only where
        asyncio's task sets cannot answer for every loop (3.14): elsewhere
        :attr:`loops` is never read, and a WeakSet costs a Python call and a
        weak reference per loop built, closed and first given a task."""
        return module_tasks() is None

    def known_loops(self) -> list[asyncio.AbstractEventLoop]:
        """Every live, unclosed loop we saw built or running (where asyncio keeps
        no module-level task sets: :meth:`pending_tasks` needs the loops there)."""
        running = asyncio._get_running_loop()  # None where get_running_loop() raises
        if running is None and not self.loops:
            return []  # the common case in sync suites: no loop anywhere
        loops: set[asyncio.AbstractEventLoop] = set(self.loops)
        if running is not None:
            loops.add(running)
        return [loop for loop in loops if self._is_open(loop)]

    def _is_open(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Not closed. A loop whose ``is_closed()`` raises cannot be inspected:
        skipped, and said once (not on every later test while it lives)."""
        try:
            return not loop.is_closed()
        except Exception as exc:
            with contextlib.suppress(Exception):
                if loop not in self._strange_loops:
                    self._strange_loops.add(loop)
                    PROVENANCE.errors.append(
                        f"skipping an event loop whose is_closed() raised "
                        f"{type(exc).__name__}: {exc}"
                    )
            return False

    def pending_tasks(self) -> Iterator[Any]:
        """Every task not yet done, on every open loop.

        Where asyncio keeps every task of the process in module-level sets
        (3.10-3.13), one pass over them answers for every loop at once;
        ``asyncio.all_tasks(loop)`` would walk them once per loop, through a
        Python-level WeakSet iterator.
        """
        tasks = module_tasks()
        if tasks is None:
            yield from self._pending_by_loop()
            return
        open_loops: dict[int, bool] = {}
        for task in tasks:
            if task.done():
                continue
            loop = task.get_loop()
            is_open = open_loops.get(id(loop))
            if is_open is None:
                is_open = open_loops[id(loop)] = self._is_open(loop)
            if is_open:
                yield task

    def _pending_by_loop(self) -> Iterator[Any]:
        for loop in self.known_loops():
            try:
                tasks = asyncio.all_tasks(loop)
            except Exception:  # a loop mid-mutation in another thread
                continue
            for task in tasks:
                if not task.done():
                    yield task


LOOPS = Loops()
