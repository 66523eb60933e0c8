"""The patches that feed provenance, the loop registry and the reaped ledger.

While checking is on, ``Thread.start()``, ``BaseEventLoop.create_task()``
and loop construction are wrapped so that every thread and task gets an
origin, and the runners that silently cancel pending tasks when they shut a
loop down (``asyncio.run``, ``asyncio.Runner``, anyio's copy on 3.10, the
backport pytest-asyncio uses on 3.10, ``loop.close()``) are wrapped so that
a task reaped there is still seen. trio runs get an instrument (``_trio``).

Installation is reference-counted: a pytest session and library users share
one set of patches, removed when the last one leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
import threading
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import _trio
from ._frames import enter_run, exit_run, set_run_wrapper_codes
from ._ledger import LEDGER
from ._loops import LOOPS
from ._on_import import when_imported
from ._pools import ANYIO_RUNNER_TASKS
from ._provenance import PROVENANCE

__all__ = ["ensure_installed", "install", "installed", "uninstall"]

#: Coroutines a runner hands to ``run_until_complete`` whose start site says
#: nothing (by qualified name, once per run): the steps a runner takes while
#: it closes a loop, and anyio's exempt test runner coroutines (the exemption's
#: own names, ``_pools.ANYIO_RUNNER_TASKS``; its call into the runner task is
#: the one handed over). A check per start instead would cost every task ~150 ns.
_RUNNERS_OWN = frozenset(
    {
        "BaseEventLoop.shutdown_asyncgens",
        "BaseEventLoop.shutdown_default_executor",
        *ANYIO_RUNNER_TASKS,
    }
)

#: Modules holding a ``_cancel_all_tasks(loop)`` that a runner calls at close.
_RUNNER_MODULES = (
    "asyncio.runners",
    *(
        ("anyio._backends._asyncio", "backports.asyncio.runner.runner")
        if sys.version_info < (3, 11)
        else ()
    ),
)


class _Patches:
    """What is patched now, and how to undo it."""

    def __init__(self) -> None:
        self.installs = 0
        self.library_user = False
        self.undo: list[Callable[[], None]] = []
        self.lock = threading.Lock()

    def replace(self, owner: Any, name: str, wrapper: Callable[..., Any]) -> None:
        """Set *owner.name* to *wrapper*; the undo restores it (or the inherited one)."""
        own = name in owner.__dict__
        original = owner.__dict__.get(name)
        setattr(owner, name, wrapper)
        if own:
            self.undo.append(lambda: setattr(owner, name, original))
        else:
            self.undo.append(lambda: delattr(owner, name))


_STATE = _Patches()


def installed() -> bool:
    return _STATE.installs > 0


def ensure_installed() -> None:
    """Install once for library users, for the rest of the process."""
    if not _STATE.library_user:
        _STATE.library_user = True
        install()


def install() -> None:
    """Start recording origins (reference-counted: nested users are fine)."""
    with _STATE.lock:
        _STATE.installs += 1
        if _STATE.installs > 1:
            return
    _patch_thread_start()
    _patch_loop_class(asyncio.BaseEventLoop)
    _patch_asyncgen_finalizer()
    for module_name in _RUNNER_MODULES:
        _patch_runner(module_name)
    _patch_unittest_310()
    _STATE.undo.append(_trio.install())
    _STATE.undo.append(when_imported("uvloop", _patch_uvloop))


def uninstall() -> None:
    with _STATE.lock:
        if _STATE.installs == 0:
            return
        _STATE.installs -= 1
        if _STATE.installs:
            return
        undo, _STATE.undo = _STATE.undo, []
    for restore in reversed(undo):
        restore()


def _patch_thread_start() -> None:
    original = threading.Thread.start
    record, origins = PROVENANCE.record_start, PROVENANCE.thread_origins

    def start(thread: threading.Thread) -> None:
        try:  # noqa: SIM105 (suppress() costs a Python call per start)
            record(origins, thread, 1)
        except Exception:  # bookkeeping must never stop a thread from starting
            pass
        original(thread)

    start.__wrapped__ = original  # type: ignore[attr-defined]
    _STATE.replace(threading.Thread, "start", start)


def _patch_loop_class(cls: type) -> None:
    """Record the loops, task origins, interrupted runs and unfinished tasks of *cls*."""
    original_init = cls.__init__  # type: ignore[misc]
    original_create_task = cls.create_task  # type: ignore[attr-defined]
    original_close = cls.close  # type: ignore[attr-defined]
    original_run_forever = cls.run_forever  # type: ignore[attr-defined]
    record, task_origins = PROVENANCE.record_start, PROVENANCE.task_origins
    original_run_until_complete = cls.run_until_complete  # type: ignore[attr-defined]
    original_call_exception_handler = cls.call_exception_handler  # type: ignore[attr-defined]
    loops = LOOPS.loops
    track = LOOPS.registry_needed()
    # Where loops are registered (see Loops.registry_needed): the loop seen
    # last, weakly: asking the WeakSet costs a Python call and a new weak
    # reference, on every task; a loop makes its tasks in a row.
    last_loop: list[Any] = [lambda: None]
    # The runner's own step being run now, if any (one identity test per task).
    runners_own: list[Any] = [None]

    def __init__(loop: Any, *args: Any, **kwargs: Any) -> None:
        original_init(loop, *args, **kwargs)
        loops.add(loop)

    def create_task(loop: Any, coro: Any, *args: Any, **kwargs: Any) -> Any:
        task = original_create_task(loop, coro, *args, **kwargs)
        try:
            if track and last_loop[0]() is not loop:
                if loop not in loops:
                    loops.add(loop)
                last_loop[0] = weakref.ref(loop)
            if LEDGER.watching_creates:
                LEDGER.on_create(task, coro)
            # A runner's own steps (see run_until_complete): where they start
            # says nothing, and they start deep in the runner.
            record(task_origins, task, 1, coro is not runners_own[0])
        except Exception:  # bookkeeping must never break task creation
            pass
        return task

    def run_forever(loop: Any, *args: Any, **kwargs: Any) -> Any:
        previous = enter_run(sys._getframe())
        try:
            return original_run_forever(loop, *args, **kwargs)
        finally:
            exit_run(previous)

    def run_until_complete(loop: Any, future: Any) -> Any:
        step = getattr(future, "__qualname__", None) in _RUNNERS_OWN
        if step:
            runners_own[0] = future
        # A run from here: the main task's start and the run_forever inside
        # share the frames above this one (see _frames.capture_sites).
        previous = enter_run(sys._getframe())
        try:
            return original_run_until_complete(loop, future)
        except BaseException as exc:
            # KeyboardInterrupt, SystemExit, a BaseExceptionGroup (a cancelled main
            # task is not an interruption: what it left behind is still reported)
            if not isinstance(exc, (Exception, asyncio.CancelledError)):
                LEDGER.interrupted.add(loop)
            raise
        finally:
            exit_run(previous)
            if step:
                runners_own[0] = None

    def close(loop: Any) -> None:
        try:
            reap = not loop.is_closed() and not loop.is_running()
        except Exception:  # a loop in a strange state: let close() itself decide
            reap = False
        if not LEDGER.reaped_by_runner(loop) and reap:
            LEDGER.record_reaped(loop, "abandoned when its event loop was closed")
        original_close(loop)
        # Only open loops can hold stragglers: a closed one would stay in
        # the registry until collected, and be looked at on every check.
        if track:
            loops.discard(loop)

    def call_exception_handler(loop: Any, context: dict[str, Any]) -> Any:
        with contextlib.suppress(Exception):
            task = context.get("task")
            message = str(context.get("message", ""))
            if task is not None and message.startswith("Task was destroyed but it is pending"):
                LEDGER.record_destroyed(task)
        return original_call_exception_handler(loop, context)

    if track:
        _STATE.replace(cls, "__init__", __init__)
    _STATE.replace(cls, "create_task", create_task)
    _STATE.replace(cls, "run_until_complete", run_until_complete)
    _STATE.replace(cls, "run_forever", run_forever)
    set_run_wrapper_codes(run_forever.__code__, run_until_complete.__code__)
    _STATE.replace(cls, "close", close)
    _STATE.replace(cls, "call_exception_handler", call_exception_handler)


def _patch_asyncgen_finalizer() -> None:
    """Name the generator behind each ``aclose()`` task the loop starts for the collector.

    The same three lines as asyncio's own hook (3.10-3.13), with a note of
    which generator the closing task is for.
    """
    base = asyncio.BaseEventLoop

    def _asyncgen_finalizer_hook(loop: Any, agen: Any) -> None:
        loop._asyncgens.discard(agen)
        if not loop.is_closed():
            closer = agen.aclose()
            with contextlib.suppress(Exception):
                LEDGER.note_agen_closer(closer, agen)
            loop.call_soon_threadsafe(loop.create_task, closer)

    if "_asyncgen_finalizer_hook" in base.__dict__:
        _STATE.replace(base, "_asyncgen_finalizer_hook", _asyncgen_finalizer_hook)


def _patch_uvloop(module: ModuleType) -> Callable[[], None]:
    """uvloop's Loop is a Python subclass of its compiled loop: patched like asyncio's.

    The undo is part of the session's (it lands in the same list).
    """
    loop_class = getattr(module, "Loop", None)
    if isinstance(loop_class, type):
        _patch_loop_class(loop_class)
    _patch_runner_module(module)
    return lambda: None


def _patch_unittest_310() -> None:
    """3.10's IsolatedAsyncioTestCase cancels leftovers itself, not via a runner."""
    if sys.version_info >= (3, 11):
        return  # it uses asyncio.Runner there: _cancel_all_tasks covers it
    import unittest.async_case as async_case

    case = async_case.IsolatedAsyncioTestCase
    original = case.__dict__.get("_tearDownAsyncioLoop")
    if original is None:
        return

    def _tearDownAsyncioLoop(test: Any) -> None:
        loop = getattr(test, "_asyncioTestLoop", None)
        if loop is not None:
            # its own call-runner task finishes in there: not a leftover
            LEDGER.record_reaped(
                loop,
                "cancelled by IsolatedAsyncioTestCase at loop shutdown",
                exclude=getattr(test, "_asyncioCallsTask", None),
            )
        original(test)

    _STATE.replace(case, "_tearDownAsyncioLoop", _tearDownAsyncioLoop)


def _patch_runner(module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except Exception:  # not installed here, or not on this Python
        return
    _patch_runner_module(module)


def _patch_runner_module(module: ModuleType) -> None:
    original = module.__dict__.get("_cancel_all_tasks")
    if original is None:
        return

    def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
        LEDGER.record_reaped(loop, "cancelled by the event-loop runner at loop shutdown")
        original(loop)
        LEDGER.mark_runner_reaped(loop)

    _STATE.replace(module, "_cancel_all_tasks", _cancel_all_tasks)
