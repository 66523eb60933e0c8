"""The value types every other module speaks: who owns what, where it started, what leaked.

Plain immutable data with no live thread, task or frame inside, so a value
can be kept, compared, printed and shipped to JSON (or to an xdist
controller) after the thing it describes is gone. This module imports nothing
of ours but the frame record: it is the bottom layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from ._frames import FrameRecord, Sites

__all__ = [
    "BACKGROUND",
    "ENDED_HOW",
    "ENDED_KINDS",
    "KINDS",
    "Leak",
    "Origin",
    "Owner",
    "ReapedTask",
    "new_origin",
]


class Owner(NamedTuple):
    """Who is answerable for what starts while it is current.

    (Named tuples, this and :class:`Origin`: immutable values, built several
    times per test, at a quarter of a frozen dataclass's cost.)
    """

    kind: str  # "test", "fixture", "session" (a nested pytest session) or "background"
    name: str  # the test's node id, the fixture's name
    scope: str = "function"
    node: str = ""  # for fixtures: the node id of the scope it lives in

    def describe(self) -> str:
        if self.kind == "fixture":
            return f"fixture '{self.name}' ({self.scope} scope)"
        return self.name


#: The owner of what a thread that existed before checking began starts on its
#: own (a scheduler started at import re-arming a Timer): no test's business.
BACKGROUND = Owner("background", "a thread that was running before checking began")


class Origin(NamedTuple):
    """Where and when a thread or task was started.

    *sites* is the creation stack as captured (code objects and offsets, no
    frames); :attr:`stack` resolves it to frame records when a report asks,
    so a start pays for a walk and nothing more.
    """

    sites: Sites | None
    phase: str | None
    owner: Owner | None
    started_by: str  # name of the thread that started it

    @property
    def stack(self) -> tuple[FrameRecord, ...] | None:
        """The creation stack, outermost first; None when not captured."""
        return None if self.sites is None else self.sites.records()


#: ``Origin`` from a (sites, phase, owner, started_by) tuple, built in C: the
#: generated ``Origin(...)`` constructor is a Python call, on every start.
new_origin = partial(tuple.__new__, Origin)


@dataclass(frozen=True)
class ReapedTask:
    """A task that ended without finishing: cancelled at loop shutdown, or destroyed pending.

    Described at that moment: afterwards it is gone, and its stack with it.
    Holds a weak reference at most: a record never keeps a task alive.
    """

    seq: int
    task_ref: Any  # weakref.ref to the task, or None when it is already being destroyed
    name: str
    coroutine: str
    stack: tuple[FrameRecord, ...]
    waiting_on: str | None
    origin: Origin | None
    reaped_by: str
    kind: str = "reaped task"


#: What a Leak can be.
KINDS = (
    "thread",
    "task",
    "reaped task",
    "destroyed task",
    "async generator",
    "python thread",
    "native thread",
)

#: Kinds recorded when the straggler ended unfinished: gone by the time anyone looks.
ENDED_KINDS = frozenset({"reaped task", "destroyed task", "async generator"})

#: How each ended kind ended, for the report's header line.
ENDED_HOW = {
    "reaped task": "cancelled at loop shutdown",
    "destroyed task": "garbage-collected while still pending",
    "async generator": "never closed",
}


@dataclass(frozen=True)
class Leak:
    """A thread or task that outlived whoever started it."""

    kind: str  # one of KINDS
    name: str
    identity: str  # "ident 1403…, native id 812, daemon" / "on <loop …>"
    target: str | None  # what it runs, as module.qualname
    stack: tuple[FrameRecord, ...]  # where it is now (or was, when reaped)
    origin: Origin | None
    waiting_on: str | None = None
    note: str | None = None
    daemon: bool | None = None
    #: the thread pool an idle worker is parked in (exempt unless strict_pools)
    parked_in: str | None = None

    @property
    def blocks_exit(self) -> bool:
        """A non-daemon thread keeps the interpreter from exiting."""
        return self.kind == "thread" and self.daemon is False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for CI tools (``--leakcheck-report``)."""

        def frames(records: tuple[FrameRecord, ...] | None) -> list[dict[str, Any]] | None:
            if records is None:
                return None
            return [{"file": r.filename, "line": r.lineno, "function": r.function} for r in records]

        origin = self.origin
        return {
            "kind": self.kind,
            "name": self.name,
            "identity": self.identity,
            "target": self.target,
            "daemon": self.daemon,
            "waiting_on": self.waiting_on,
            "note": self.note,
            "stack": frames(self.stack),
            "started_at": frames(origin.stack) if origin else None,
            "started_phase": origin.phase if origin else None,
            "started_by_owner": origin.owner.describe() if origin and origin.owner else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "") -> Leak:
        """Rebuild a Leak from :meth:`to_dict` (an xdist worker's, say); *where* tags it."""

        def frames(raw: Any) -> tuple[FrameRecord, ...]:
            records = []
            for f in raw or ():
                module, _, qualname = str(f.get("function", "")).rpartition(".")
                records.append(
                    FrameRecord(str(f.get("file", "")), int(f.get("line", 0)), module, qualname)
                )
            return tuple(records)

        identity = str(data.get("identity"))
        return cls(
            kind=str(data.get("kind")),
            name=str(data.get("name")),
            identity=f"{identity}, on {where}" if where else identity,
            target=data.get("target"),
            stack=frames(data.get("stack")),
            origin=None,
            waiting_on=data.get("waiting_on"),
            note=data.get("note"),
            daemon=data.get("daemon"),
        )
