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

from ._frames import RawSites, capture_sites, new_sites
from ._values import BACKGROUND, Origin, Owner, new_origin

__all__ = ["PROVENANCE", "Origins", "Provenance"]

#: The owner current where a piece of work was handed over, carried to other threads.
_CARRIED: ContextVar[Owner | None] = ContextVar("pytest_leakcheck_owner", default=None)


#: (phase, owner, name of the starting thread): what every start made in one
#: stretch of a test on the tests' thread shares, built once per stretch.
Context = tuple[str | None, Owner | None, str]


def _origin(entry: tuple[Any, RawSites | None, Context]) -> Origin:
    raw = entry[1]
    return new_origin((None if raw is None else new_sites(raw), *entry[2]))


class Origins:
    """object -> Origin, held weakly, that still answers while an object is being destroyed.

    An entry is (weak reference, sites, context): the reference has no
    callback (a callback is a Python call at every death), so a dead entry
    stays until the next :meth:`sweep`, when the map has doubled since the
    last one: the map stays within twice what is alive (plus a floor),
    whatever the session's length, at a constant cost per start. A dead entry
    is also what lets a pending task the garbage collector destroys be
    reported from its finalizer, after its weak references were cleared: its
    id cannot be reused while it is being finalized.
    """

    SWEEP_MIN = 4096

    def __init__(self) -> None:
        self._data: dict[int, tuple[weakref.ref[Any], RawSites | None, Context]] = {}
        self._sweep_at = self.SWEEP_MIN

    def sweep(self) -> None:
        """Forget the dead (when the map has doubled: a constant cost per record)."""
        data = self._data
        for key, entry in list(data.items()):
            if entry[0]() is None and data.get(key) is entry:
                del data[key]
        self._sweep_at = max(self.SWEEP_MIN, 2 * len(data))

    def get(self, obj: object) -> Origin | None:
        entry = self._data.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return _origin(entry)
        return None

    def of_dying(self, obj: object) -> Origin | None:
        """The origin of *obj*, also while it is being destroyed."""
        entry = self._data.get(id(obj))
        if entry is not None and ((alive := entry[0]()) is obj or alive is None):
            return _origin(entry)
        return None

    def reown(self, owners: set[Owner], owner: Owner | None, phase: str | None) -> None:
        """Give what *owners* started and is still alive to *owner*."""
        for key, (ref, sites, context) in list(self._data.items()):
            if context[1] in owners and ref() is not None:
                self._data[key] = (ref, sites, (phase, owner, context[2]))


class Provenance:
    """The owner stack and the origin of every thread and task started since install."""

    #: How many starts :meth:`started_since` can list (a check that finds more does the full scan)
    RECENT = 128

    def __init__(self) -> None:
        self._phase: str | None = None
        self._owners: list[Owner] = []
        self._owner_thread: int | None = None
        self._owner_thread_name = ""
        #: (phase, owner, thread name) of a start on the tests' thread now
        self.context: Context = (None, None, "")
        self.capture_stacks = True
        #: threads and tasks recorded so far (a check with none since is short)
        self.starts = 0
        #: the last RECENT of them, weakly, at their start number modulo RECENT
        self._recent: list[weakref.ref[Any] | None] = [None] * self.RECENT
        self.thread_origins = Origins()
        self.task_origins = Origins()
        #: one set per pytest session running inside a test: the owners pushed in it
        self._nested: list[set[Owner]] = []
        #: our own failures inside instrumented calls, for the session to warn about
        self.errors: list[str] = []

    @property
    def owner(self) -> Owner | None:
        return self._owners[-1] if self._owners else None

    @property
    def phase(self) -> str | None:
        return self._phase

    @phase.setter
    def phase(self, phase: str | None) -> None:
        self._phase = phase
        self._refresh()

    def _refresh(self) -> None:
        self.context = (self._phase, self.owner, self._owner_thread_name)

    def owner_thread_is_current(self) -> bool:
        return self._owner_thread == threading.get_ident()

    def push_owner(self, owner: Owner) -> None:
        self._owner_thread = threading.get_ident()
        self._owner_thread_name = threading.current_thread().name
        self._owners.append(owner)
        self._refresh()
        _CARRIED.set(owner)
        for owners in self._nested:
            owners.add(owner)

    def pop_owner(self, owner: Owner) -> None:
        owners = self._owners
        if owners and owners[-1] is owner:  # the common case: the last one pushed
            del owners[-1]
        elif owner in owners:
            # Remove the innermost occurrence: pushes and pops pair up, but a
            # crashed hook must not leave a stale owner on top for ever.
            del owners[len(owners) - 1 - owners[::-1].index(owner) :]
        else:
            return
        self._refresh()
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

    # -- starts -------------------------------------------------------------------

    def record_start(self, origins: Origins, obj: object, skip: int, stack: bool = True) -> None:
        """Record where and by whom *obj* is being started (*skip*: our own frames).

        On every task and thread start: the tests' thread takes the context
        built when the owner or phase last changed; other threads work out
        theirs (see the module docstring). The map is written here, the one
        place that adds to it (a method call on it would be a fifth of what a
        start costs).
        """
        if threading.get_ident() == self._owner_thread:
            context = self.context
        else:
            context = self._foreign_context()
        sites = capture_sites(skip + 1) if stack and self.capture_stacks else None
        self.starts = starts = self.starts + 1
        ref = weakref.ref(obj)
        self._recent[starts % self.RECENT] = ref
        data = origins._data
        data[id(obj)] = (ref, sites, context)
        if len(data) >= origins._sweep_at:
            origins.sweep()

    def started_since(self, starts: int, until: int | None = None) -> list[Any] | None:
        """What was started after the first *starts* starts (up to the
        *until*-th) and is still alive (None: more than :attr:`RECENT`, not listed)."""
        count, size = (self.starts if until is None else until) - starts, self.RECENT
        if count > size:
            return None
        if count <= 0:
            return []
        recent, low, high = self._recent, (starts + 1) % size, (starts + count + 1) % size
        refs = recent[low:high] if low < high else recent[low:] + recent[:high]
        return [obj for ref in refs if ref is not None and (obj := ref()) is not None]

    def _foreign_context(self) -> Context:
        """Who owns what another thread than the tests' starts (see the module docstring)."""
        current = threading.current_thread()
        if self._owner_thread is None:  # no owner pushed yet: a library user's own process
            return (self._phase, self.owner, current.name)
        carried = _CARRIED.get()
        if carried is not None:
            return (self._phase if carried == self.owner else None, carried, current.name)
        parent = self.thread_origins.get(current)
        if parent is not None and parent.owner is not None:
            return (parent.phase, parent.owner, current.name)
        return (None, BACKGROUND, current.name)


PROVENANCE = Provenance()
