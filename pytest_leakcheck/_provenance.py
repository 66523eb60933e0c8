"""Provenance: who is answerable for each thread and task, and where it was started.

The pytest session pushes an owner (a test, a higher-scoped fixture) while it
runs; every thread and task started meanwhile is recorded with an
:class:`~._values.Origin` naming that owner, the pytest phase and the stack
at its start. Everything is held weakly: a record never keeps a thread or a
task alive.
"""

from __future__ import annotations

import threading
from typing import Any

from ._frames import capture_stack
from ._values import Origin, Owner, new_origin
from ._weakids import WeakIdMap

__all__ = ["PROVENANCE", "Provenance"]


class Provenance:
    """The owner stack and the origin of every thread and task started since install."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self._owners: list[Owner] = []
        self._owner_thread: int | None = None
        self.capture_stacks = True
        # (weak maps built for many short-lived keys: see _weakids)
        self.thread_origins: WeakIdMap[threading.Thread, Origin] = WeakIdMap()
        self.task_origins: WeakIdMap[Any, Origin] = WeakIdMap()
        #: our own failures inside instrumented calls, for the session to warn about
        self.errors: list[str] = []

    @property
    def owner(self) -> Owner | None:
        return self._owners[-1] if self._owners else None

    def push_owner(self, owner: Owner) -> None:
        self._owner_thread = threading.get_ident()
        self._owners.append(owner)

    def pop_owner(self, owner: Owner) -> None:
        if owner in self._owners:
            # Remove the innermost occurrence: pushes and pops pair up, but a
            # crashed hook must not leave a stale owner on top for ever.
            index = len(self._owners) - 1 - self._owners[::-1].index(owner)
            del self._owners[index:]

    def current_origin(self, skip: int, stack: bool = True) -> Origin:
        """The origin of something being started right now, by this thread.

        Started from the thread that drives the tests, it belongs to the
        current owner. Started from another thread, it belongs to whoever
        owns that thread: a server thread started by a module fixture spawns
        handler threads during tests, and those are the fixture's, not the
        tests'; a thread leaked by one test that keeps spawning during the
        next is still the first test's.
        """
        current = threading.current_thread()
        owner, phase = self.owner, self.phase
        if threading.get_ident() != self._owner_thread:
            parent = self.thread_origins.get(current)
            if parent is not None:
                owner, phase = parent.owner, parent.phase
        frames = capture_stack(skip + 1) if stack and self.capture_stacks else None
        return new_origin((frames, phase, owner, current.name))


PROVENANCE = Provenance()
