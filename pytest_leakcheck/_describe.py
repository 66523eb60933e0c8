"""Live threads and tasks described as :class:`~._values.Leak` values.

The one place that reads a live object (a thread's target and current frame,
a task's await chain and loop) and turns it into plain data; nothing here
keeps what it looked at.
"""

from __future__ import annotations

import reprlib
import threading
from typing import Any

from ._frames import FrameRecord, await_chain, frame_stack, thread_frames, waiting_on
from ._pools import worker_state
from ._values import ENDED_HOW, Leak, Origin, ReapedTask

__all__ = [
    "BUSY_WORKER",
    "coroutine_name",
    "describe_native_thread",
    "describe_reaped",
    "describe_task",
    "describe_thread",
    "describe_unmanaged_thread",
    "thread_target",
]


def coroutine_name(coro: object) -> str:
    """``module.qualname`` of the function a coroutine object runs."""
    qualname = getattr(coro, "__qualname__", None) or type(coro).__qualname__
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
    module = frame.f_globals.get("__name__") if frame is not None else None
    if module is None and code is not None:
        module = getattr(coro, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


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


#: Note on a pool worker that has, or is about to take, a job.
BUSY_WORKER = "a pool worker busy with a job (or with one queued for it)"


def _interval(timer: threading.Timer) -> str:
    interval: object = timer.interval
    return f"{interval:g} s" if isinstance(interval, (int, float)) else repr(interval)


def _timer_note(timer: threading.Timer) -> str:
    """A Timer's thread is a pending call: say what it will call, and when."""
    args = ", ".join(
        [reprlib.repr(a) for a in timer.args]
        + [f"{k}={reprlib.repr(v)}" for k, v in timer.kwargs.items()]
    )
    return (
        f"a threading.Timer: calls {thread_target(timer)}({args}) {_interval(timer)} after "
        "it was started, unless cancelled first (timer.cancel())"
    )


def describe_thread(
    thread: threading.Thread, origin: Origin | None, frames: dict[int, Any] | None = None
) -> Leak:
    native = getattr(thread, "native_id", None)
    identity = f"ident {thread.ident}" + (f", native id {native}" if native else "")
    identity += ", daemon" if thread.daemon else ", NOT daemon"
    state = worker_state(frames.get(thread.ident or -1)) if frames else None
    note = None
    if isinstance(thread, threading.Timer):
        identity = f"threading.Timer, {_interval(thread)} interval, {identity}"
        note = _timer_note(thread)
    elif state is not None and not state.parked:
        note = BUSY_WORKER
    return Leak(
        kind="thread",
        name=thread.name,
        identity=identity,
        target=thread_target(thread),
        stack=_thread_stack(thread.ident, frames),
        origin=origin,
        daemon=thread.daemon,
        note=note,
        parked_in=state.pool if state is not None and state.parked else None,
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
    """A task that ended unfinished, as it was described at that moment."""
    if reaped.kind == "reaped task":
        note = f"still pending when its loop shut down: {reaped.reaped_by}"
    else:
        note = reaped.reaped_by
    return Leak(
        kind=reaped.kind,
        name=reaped.name,
        identity=ENDED_HOW.get(reaped.kind, "ended unfinished"),
        target=reaped.coroutine,
        stack=reaped.stack,
        origin=reaped.origin,
        waiting_on=reaped.waiting_on,
        note=f"{note}; stack as it was then",
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
