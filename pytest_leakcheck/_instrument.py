"""Instrumentation: who started each thread and task, and which loops exist.

While checking is on, ``Thread.start()``, ``BaseEventLoop.create_task()`` and
loop construction are wrapped so that every thread and task gets an
:class:`Origin` (the stack at its start, the pytest phase, the owner: a test or
a higher-scoped fixture). The runners that silently cancel pending tasks when
they shut a loop down (``asyncio.run``, ``asyncio.Runner``, anyio's copy on
3.10, the backport pytest-asyncio uses on 3.10) and ``loop.close()`` are
wrapped too, so a task reaped there is still seen and reported: it was leaked
by the code under test even though no after-the-test check can find it.

Cost, per thread start or task creation: one frame walk of up to 64 frames
(a few microseconds) and one weak-dictionary insert. ``capture_stacks=False``
drops the frame walk.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import importlib
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._frames import FrameRecord, await_chain, capture_stack, waiting_on
from ._pools import infrastructure_reason

__all__ = ["TRACKER", "Origin", "Owner", "ReapedTask", "Tracker", "install", "uninstall"]


class Owner(NamedTuple):
    """Who is answerable for what starts while it is current.

    (Named tuples, this and :class:`Origin`: immutable values, built several
    times per test, at a quarter of a frozen dataclass's cost.)
    """

    kind: str  # "test" or "fixture"
    name: str  # the test's node id, or the fixture's name
    scope: str = "function"
    node: str = ""  # for fixtures: the node id of the scope it lives in

    def describe(self) -> str:
        if self.kind == "fixture":
            return f"fixture '{self.name}' ({self.scope} scope)"
        return self.name


class Origin(NamedTuple):
    """Where and when a thread or task was started."""

    stack: tuple[FrameRecord, ...] | None
    phase: str | None
    owner: Owner | None
    started_by: str  # name of the thread that started it


@dataclass(frozen=True)
class ReapedTask:
    """A task still pending when a runner shut its loop down.

    Described at that moment: afterwards it is cancelled and its stack gone.
    """

    seq: int
    task_ref: weakref.ref[Any]
    name: str
    coroutine: str
    stack: tuple[FrameRecord, ...]
    waiting_on: str | None
    origin: Origin | None
    reaped_by: str


def coroutine_name(coro: object) -> str:
    """``module.qualname`` of the function a coroutine object runs."""
    qualname = getattr(coro, "__qualname__", None) or type(coro).__qualname__
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
    module = frame.f_globals.get("__name__") if frame is not None else None
    if module is None and code is not None:
        module = getattr(coro, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


class Tracker:
    """Process-wide registry of origins, loops and reaped tasks.

    One per process (threads and loops are process-wide); installed while at
    least one user (a pytest session, a library snapshot) wants it.
    """

    REAPED_KEPT = 10_000

    def __init__(self) -> None:
        self.phase: str | None = None
        self._owners: list[Owner] = []
        self._owner_thread: int | None = None
        self.capture_stacks = True
        self.thread_origins: weakref.WeakKeyDictionary[threading.Thread, Origin] = (
            weakref.WeakKeyDictionary()
        )
        self.task_origins: weakref.WeakKeyDictionary[Any, Origin] = weakref.WeakKeyDictionary()
        self.loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self.reaped: list[ReapedTask] = []
        #: our own failures inside instrumented calls, for the session to warn about
        self.errors: list[str] = []
        self._strange_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self.reap_seq = 0
        #: id() of the loop a runner has just reaped, and the tasks created
        #: since (a runner's shutdown makes a few): if those are done when that
        #: loop is closed, close() need not list its tasks again
        self._runner_reaped: int | None = None
        self._after_reap: list[Any] = []
        self._installs = 0
        self._library_user = False
        self._undo: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    # -- owners ---------------------------------------------------------------

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
        return Origin(frames, phase, owner, current.name)

    # -- reaped tasks -----------------------------------------------------------

    def record_reaped(
        self, loop: asyncio.AbstractEventLoop, reaped_by: str, exclude: object = None
    ) -> None:
        """Describe every task still pending on *loop* before it is cancelled."""
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done() and t is not exclude]
        except Exception:  # a loop in a strange state: nothing we can list
            return
        with self._lock:
            for task in pending:
                try:
                    coroutine = coroutine_name(task.get_coro())
                    if infrastructure_reason("reaped task", "", coroutine, ()) is not None:
                        continue  # a test runner's own task: not worth a description
                    reaped = ReapedTask(
                        seq=self.reap_seq + 1,
                        task_ref=weakref.ref(task),
                        name=task.get_name(),
                        coroutine=coroutine,
                        stack=await_chain(task.get_coro()),
                        waiting_on=waiting_on(task),
                        origin=self.task_origins.get(task),
                        reaped_by=reaped_by,
                    )
                except Exception as exc:  # a hostile task must not break the runner
                    self.errors.append(
                        f"describing a task reaped at loop shutdown: {type(exc).__name__}: {exc}"
                    )
                    continue
                self.reap_seq += 1
                self.reaped.append(reaped)
            if len(self.reaped) > self.REAPED_KEPT:
                del self.reaped[: len(self.reaped) - self.REAPED_KEPT]

    def _note_after_reap(self, task: Any) -> None:
        self._after_reap.append(task)
        if len(self._after_reap) > 64:  # that loop is not being closed: stop tracking
            self._forget_runner_reap()

    def _forget_runner_reap(self) -> None:
        self._runner_reaped = None
        self._after_reap.clear()

    def _reaped_by_runner(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Did a runner just reap *loop*, leaving nothing pending since? (Asked
        once, as *loop* closes: the mark is forgotten.)

        Listing a loop's tasks walks every task of the process, and a runner
        closes a loop per test right after reaping it.
        """
        reaped = self._runner_reaped == id(loop) and all(t.done() for t in self._after_reap)
        self._forget_runner_reap()
        return reaped

    def add_reaped(self, build: Callable[[int], ReapedTask]) -> None:
        """Record one reaped task built by *build* from its sequence number (trio)."""
        with self._lock:
            self.reap_seq += 1
            self.reaped.append(build(self.reap_seq))
            if len(self.reaped) > self.REAPED_KEPT:
                del self.reaped[: len(self.reaped) - self.REAPED_KEPT]

    def reaped_since(self, seq: int) -> list[ReapedTask]:
        with self._lock:
            # Sorted by seq (appended in order): a bisection, not a walk over
            # up to REAPED_KEPT records on every check.
            start = bisect.bisect_right(self.reaped, seq, key=_reap_seq)
            return self.reaped[start:]

    # -- install / uninstall ---------------------------------------------------

    @property
    def installed(self) -> bool:
        return self._installs > 0

    def ensure_installed(self) -> None:
        """Install once for library users, for the rest of the process."""
        if not self._library_user:
            self._library_user = True
            self.install()

    def install(self) -> None:
        """Start recording origins (reference-counted: nested users are fine)."""
        with self._lock:
            self._installs += 1
            if self._installs > 1:
                return
        self._patch_thread_start()
        self._patch_event_loops()
        for module_name in _RUNNER_MODULES:
            self._patch_runner(module_name)
        self._patch_unittest_310()
        from . import _trio  # trio runs: our instrument in each (imports no trio)

        self._undo.append(_trio.install())

    def uninstall(self) -> None:
        with self._lock:
            if self._installs == 0:
                return
            self._installs -= 1
            if self._installs:
                return
            undo, self._undo = self._undo, []
        for restore in reversed(undo):
            restore()

    def _replace(self, owner: Any, name: str, wrapper: Callable[..., Any]) -> None:
        original = owner.__dict__[name]
        setattr(owner, name, wrapper)
        self._undo.append(lambda: setattr(owner, name, original))

    def _patch_thread_start(self) -> None:
        original = threading.Thread.start
        tracker = self

        def start(thread: threading.Thread) -> None:
            # Bookkeeping must never stop a thread from starting.
            with contextlib.suppress(Exception):
                tracker.thread_origins[thread] = tracker.current_origin(skip=1)
            original(thread)

        start.__wrapped__ = original  # type: ignore[attr-defined]
        self._replace(threading.Thread, "start", start)

    def _patch_event_loops(self) -> None:
        base = asyncio.BaseEventLoop
        tracker = self
        original_init = base.__init__
        original_create_task = base.create_task
        original_close = base.close

        def __init__(loop: asyncio.BaseEventLoop, *args: Any, **kwargs: Any) -> None:
            original_init(loop, *args, **kwargs)
            tracker.loops.add(loop)

        def create_task(loop: asyncio.BaseEventLoop, *args: Any, **kwargs: Any) -> Any:
            task = original_create_task(loop, *args, **kwargs)
            try:
                if loop not in tracker.loops:  # a membership test allocates nothing
                    tracker.loops.add(loop)
                if tracker._runner_reaped is not None:
                    tracker._note_after_reap(task)
                coro = args[0] if args else kwargs.get("coro")
                # A runner's own shutdown steps: where they start says nothing,
                # and they start deep in the runner (the longest walks there are).
                own = getattr(coro, "__qualname__", None) in _RUNNER_SHUTDOWN_STEPS
                tracker.task_origins[task] = tracker.current_origin(skip=1, stack=not own)
            except Exception:  # bookkeeping must never break task creation
                pass
            return task

        def close(loop: asyncio.BaseEventLoop) -> None:
            try:
                reap = not loop.is_closed() and not loop.is_running()
            except Exception:  # a loop in a strange state: let close() itself decide
                reap = False
            if not tracker._reaped_by_runner(loop) and reap:
                tracker.record_reaped(loop, "abandoned when its event loop was closed")
            original_close(loop)
            # Only open loops can hold stragglers: a closed one would stay in
            # the registry until collected, and be looked at on every check.
            tracker.loops.discard(loop)

        self._replace(base, "__init__", __init__)
        self._replace(base, "create_task", create_task)
        self._replace(base, "close", close)

    def _patch_unittest_310(self) -> None:
        """3.10's IsolatedAsyncioTestCase cancels leftovers itself, not via a runner."""
        if sys.version_info >= (3, 11):
            return  # it uses asyncio.Runner there: _cancel_all_tasks covers it
        import unittest.async_case as async_case

        case = async_case.IsolatedAsyncioTestCase
        original = case.__dict__.get("_tearDownAsyncioLoop")
        if original is None:
            return
        tracker = self

        def _tearDownAsyncioLoop(test: Any) -> None:
            loop = getattr(test, "_asyncioTestLoop", None)
            if loop is not None:
                # its own call-runner task finishes in there: not a leftover
                tracker.record_reaped(
                    loop,
                    "cancelled by IsolatedAsyncioTestCase at loop shutdown",
                    exclude=getattr(test, "_asyncioCallsTask", None),
                )
            original(test)

        self._replace(case, "_tearDownAsyncioLoop", _tearDownAsyncioLoop)

    def _patch_runner(self, module_name: str) -> None:
        try:
            module = importlib.import_module(module_name)
        except Exception:  # not installed here, or not on this Python
            return
        original = module.__dict__.get("_cancel_all_tasks")
        if original is None:
            return
        tracker = self

        def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
            tracker.record_reaped(loop, "cancelled by the event-loop runner at loop shutdown")
            original(loop)
            tracker._runner_reaped = id(loop)

        self._replace(module, "_cancel_all_tasks", _cancel_all_tasks)

    # -- enumeration -------------------------------------------------------------

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
                    self.errors.append(
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


def _reap_seq(reaped: ReapedTask) -> int:
    return reaped.seq


def _weakset_snapshot(ws: Any) -> list[Any]:
    for _ in range(100):
        try:
            return list(ws)
        except RuntimeError:  # changed size during iteration in another thread
            continue
    return []


#: Coroutines an event-loop runner starts as tasks while it closes a loop.
_RUNNER_SHUTDOWN_STEPS = frozenset(
    {"BaseEventLoop.shutdown_asyncgens", "BaseEventLoop.shutdown_default_executor"}
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

TRACKER = Tracker()


def install() -> None:
    TRACKER.install()


def uninstall() -> None:
    TRACKER.uninstall()


def describe_origin(origin: Origin | None) -> str:
    if origin is None:
        return "unknown (started before checking began, or outside Thread.start/create_task)"
    parts = []
    if origin.phase:
        parts.append(f"during {origin.phase}")
    if origin.owner is not None:
        parts.append(f"of {origin.owner.describe()}")
    if origin.started_by != "MainThread" or not parts:
        parts.append(f"from thread {origin.started_by!r}")
    return " ".join(parts)


__all__ += ["coroutine_name", "describe_origin"]
