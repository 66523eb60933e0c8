"""The :class:`Leak` value: one straggler, described so a person can act on it.

A Leak is plain data (no live thread, task or frame inside), so it can be
kept, compared, grouped, printed and written to JSON after the straggler has
gone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ._frames import FrameRecord, await_chain, frame_stack, thread_frames, waiting_on
from ._instrument import Origin, ReapedTask, coroutine_name
from ._pools import worker_state

__all__ = [
    "Leak",
    "describe_native_thread",
    "describe_reaped",
    "describe_task",
    "describe_thread",
    "describe_unmanaged_thread",
    "thread_target",
]

#: What a Leak can be.
KINDS = ("thread", "task", "reaped task", "python thread", "native thread")


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


def thread_target(thread: threading.Thread) -> str:
    """What a thread runs: its target, a Timer's function, or its run()."""
    func = getattr(thread, "_target", None) or getattr(thread, "function", None)
    if func is None:
        cls = type(thread)
        if cls.run is not threading.Thread.run:
            return f"{cls.__module__}.{cls.__qualname__}.run"
        return "threading.Thread.run"
    module = getattr(func, "__module__", None) or ""
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}.{qualname}" if module else str(qualname)


def _thread_stack(
    ident: int | None, frames: dict[int, Any] | None = None
) -> tuple[FrameRecord, ...]:
    if ident is None:
        return ()
    frames = thread_frames() if frames is None else frames
    return frame_stack(frames.get(ident))


def _busy(frame: Any) -> bool:
    state = worker_state(frame)
    return state is not None and state.busy


#: Note on a pool worker that has, or is about to take, a job.
BUSY_WORKER = "a pool worker busy with a job (or with one queued for it)"


def describe_thread(
    thread: threading.Thread, origin: Origin | None, frames: dict[int, Any] | None = None
) -> Leak:
    native = getattr(thread, "native_id", None)
    identity = f"ident {thread.ident}" + (f", native id {native}" if native else "")
    identity += ", daemon" if thread.daemon else ", NOT daemon"
    return Leak(
        kind="thread",
        name=thread.name,
        identity=identity,
        target=thread_target(thread),
        stack=_thread_stack(thread.ident, frames),
        origin=origin,
        daemon=thread.daemon,
        note=BUSY_WORKER if frames and _busy(frames.get(thread.ident or -1)) else None,
    )


def describe_task(task: Any, origin: Origin | None) -> Leak:
    coro = task.get_coro()
    loop = task.get_loop()
    state = "running" if loop.is_running() else "stopped, not closed"
    return Leak(
        kind="task",
        name=task.get_name(),
        identity=f"on {type(loop).__name__} at {id(loop):#x} ({state})",
        target=coroutine_name(coro),
        stack=await_chain(coro),
        origin=origin,
        waiting_on=waiting_on(task),
        note=None if loop.is_running() else "its loop is not running: it can never finish",
    )


def describe_reaped(reaped: ReapedTask) -> Leak:
    return Leak(
        kind="reaped task",
        name=reaped.name,
        identity="cancelled at loop shutdown",
        target=reaped.coroutine,
        stack=reaped.stack,
        origin=reaped.origin,
        waiting_on=reaped.waiting_on,
        note=f"still pending when its loop shut down: {reaped.reaped_by}; stack as it was then",
    )


def describe_unmanaged_thread(ident: int, frames: dict[int, Any]) -> Leak:
    return Leak(
        kind="python thread",
        name=f"<no threading.Thread, ident {ident}>",
        identity=f"ident {ident}",
        target=None,
        stack=_thread_stack(ident, frames),
        origin=None,
        note="started with _thread.start_new_thread or from C: threading.enumerate() omits it",
    )


def describe_native_thread(tid: int, comm: str) -> Leak:
    return Leak(
        kind="native thread",
        name=comm,
        identity=f"OS thread id {tid}",
        target=None,
        stack=(),
        origin=None,
        note="an OS thread Python does not know (started by a C extension); its OS name is shown",
    )
