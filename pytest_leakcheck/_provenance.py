"""Provenance: who is answerable for each thread and task, and where it was started.

The pytest session pushes an owner (a test, a higher-scoped fixture) while it
runs; every thread and task started meanwhile is recorded with an
:class:`~._values.Origin` naming that owner, the pytest phase and the stack
at its start. Everything is held weakly: a record never keeps a thread or a
task alive.

Work started on another thread than the one running the tests is owned, in
order, by: the owner carried in the context (contextvars flow through
``call_soon_threadsafe``, ``create_task``, ``asyncio.to_thread`` and anyio's
thread and portal calls, so a task the test hands to a loop in another thread
is the test's); else the owner of the thread doing the starting (a fixture's
server thread spawning handlers); else nobody's test: a thread that was
running before the test (a scheduler started at import re-arming a Timer)
starts things on its own schedule, and they are :data:`~._values.BACKGROUND`.
"""

from __future__ import annotations

import threading
import weakref
from contextvars import ContextVar
from typing import Any

from ._frames import capture_stack
from ._values import BACKGROUND, Origin, Owner, new_origin

__all__ = ["PROVENANCE", "Origins", "Provenance"]

#: The owner current where a piece of work was handed over, carried to other threads.
_CARRIED: ContextVar[Owner | None] = ContextVar("pytest_leakcheck_owner", default=None)


class Origins:
    """object -> Origin, held weakly, that still answers while an object is being destroyed.

    A pending task the garbage collector destroys is reported from its
    finalizer, after its weak references were cleared: the last few dead
    entries are kept by id for that moment (an id is not reused while its
    object is still being finalized).
    """

    RECENT_KEPT = 256

    def __init__(self) -> None:
        self._data: dict[int, tuple[weakref.KeyedRef[int, Any], Origin]] = {}
        self._recent: dict[int, Origin] = {}

    def __setitem__(self, obj: object, origin: Origin) -> None:
        key = id(obj)
        self._data[key] = (weakref.KeyedRef(obj, self._gone, key), origin)

    def _gone(self, ref: weakref.KeyedRef[int, Any]) -> None:
        entry = self._data.get(ref.key)
        if entry is not None and entry[0] is ref:
            del self._data[ref.key]
            self._recent[ref.key] = entry[1]
            if len(self._recent) > self.RECENT_KEPT:
                del self._recent[next(iter(self._recent))]

    def get(self, obj: object) -> Origin | None:
        entry = self._data.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return entry[1]
        return None

    def of_dying(self, obj: object) -> Origin | None:
        """The origin of *obj*, also while it is being destroyed."""
        entry = self._data.get(id(obj))
        if entry is not None:
            return entry[1]
        return self._recent.get(id(obj))

    def reown(self, owners: set[Owner], owner: Owner | None, phase: str | None) -> None:
        """Give what *owners* started and is still alive to *owner*."""
        for key, (ref, origin) in list(self._data.items()):
            if origin.owner in owners and ref() is not None:
                self._data[key] = (ref, origin._replace(owner=owner, phase=phase))


class Provenance:
    """The owner stack and the origin of every thread and task started since install."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self._owners: list[Owner] = []
        self._owner_thread: int | None = None
        self.capture_stacks = True
        self.thread_origins = Origins()
        self.task_origins = Origins()
        #: one set per pytest session running inside a test: the owners pushed in it
        self._nested: list[set[Owner]] = []
        #: our own failures inside instrumented calls, for the session to warn about
        self.errors: list[str] = []

    @property
    def owner(self) -> Owner | None:
        return self._owners[-1] if self._owners else None

    def owner_thread_is_current(self) -> bool:
        return self._owner_thread == threading.get_ident()

    def push_owner(self, owner: Owner) -> None:
        self._owner_thread = threading.get_ident()
        self._owners.append(owner)
        _CARRIED.set(owner)
        for owners in self._nested:
            owners.add(owner)

    def pop_owner(self, owner: Owner) -> None:
        if owner in self._owners:
            # Remove the innermost occurrence: pushes and pops pair up, but a
            # crashed hook must not leave a stale owner on top for ever.
            index = len(self._owners) - 1 - self._owners[::-1].index(owner)
            del self._owners[index:]
            _CARRIED.set(self.owner)

    # -- nested sessions ----------------------------------------------------------

    def begin_nested(self, owner: Owner) -> None:
        """A pytest session starts inside the current test (pytester's inline runs)."""
        self._nested.append(set())
        self.push_owner(owner)

    def end_nested(self, owner: Owner) -> None:
        """It ended: what it started and is still alive is now the outer owner's.

        Its own tests answered for what they left; what died inside it (a task
        reaped by its event-loop runner) stays theirs, so the outer test
        answers only for what outlives the inner session.
        """
        if not self._nested:
            return
        owners = self._nested.pop()
        owners.add(owner)
        self.pop_owner(owner)
        outer, phase = self.owner, self.phase
        self.task_origins.reown(owners, outer, phase)
        self.thread_origins.reown(owners, outer, phase)

    def current_origin(self, skip: int, stack: bool = True) -> Origin:
        """The origin of something being started right now, by this thread."""
        current = threading.current_thread()
        owner, phase = self.owner, self.phase
        if self._owner_thread is not None and threading.get_ident() != self._owner_thread:
            owner, phase = self._foreign_owner(current)
        frames = capture_stack(skip + 1) if stack and self.capture_stacks else None
        return new_origin((frames, phase, owner, current.name))

    def _foreign_owner(self, current: threading.Thread) -> tuple[Owner | None, str | None]:
        """Who owns what another thread than the tests' starts (see the module docstring)."""
        carried = _CARRIED.get()
        if carried is not None:
            return carried, self.phase if carried == self.owner else None
        parent = self.thread_origins.get(current)
        if parent is not None and parent.owner is not None:
            return parent.owner, parent.phase
        return BACKGROUND, None


PROVENANCE = Provenance()
