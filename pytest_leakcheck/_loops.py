"""Every event loop that may hold a straggler, and the pending tasks on them.

asyncio has no registry of loops: the patches add each loop as it is built
(or first makes a task), and the module-level task set (3.10-3.13) reveals
loops we did not see built, such as uvloop's or one made before install.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from ._provenance import PROVENANCE

__all__ = ["LOOPS", "Loops"]


class Loops:
    """The open loops we know of, held weakly."""

    def __init__(self) -> None:
        self.loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._strange_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()

    def known_loops(self) -> list[asyncio.AbstractEventLoop]:
        """Every live, unclosed loop we know of, whichever thread runs it."""
        running = asyncio._get_running_loop()  # None where get_running_loop() raises
        # 3.10-3.13 keep every task in a module-level WeakSet; loops that we did
        # not see created (uvloop, created before install) show up through it.
        # On 3.14 native tasks are not in it any more; the registry covers them.
        module_tasks = getattr(asyncio.tasks, "_all_tasks", None)
        if running is None and not self.loops and not module_tasks:
            return []  # the common case in sync suites: no loop anywhere, no walk
        loops: set[asyncio.AbstractEventLoop] = set(self.loops)
        if running is not None:
            loops.add(running)
        if module_tasks is not None:
            for task in _weakset_snapshot(module_tasks):
                if not task.done():
                    loops.add(task.get_loop())
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
        """Every task not yet done, on every known loop."""
        for loop in self.known_loops():
            try:
                tasks = asyncio.all_tasks(loop)
            except Exception:  # a loop mid-mutation in another thread
                continue
            for task in tasks:
                if not task.done():
                    yield task


def _weakset_snapshot(ws: Any) -> list[Any]:
    for _ in range(100):
        try:
            return list(ws)
        except RuntimeError:  # changed size during iteration in another thread
            continue
    return []


LOOPS = Loops()
