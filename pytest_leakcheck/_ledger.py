"""The ledger of tasks that ended without finishing, for the check that comes after.

``asyncio.run()``, ``asyncio.Runner``, ``loop.close()`` and trio (with its
system nursery) cancel whatever is still pending when a loop shuts down,
silently. No after-the-test check can find those tasks any more, yet the
code under test leaked them, so each is described here at that moment, as a
:class:`~._values.ReapedTask` with a sequence number: a check reports the
records made since its snapshot. Bounded, and holding only weak references.
"""

from __future__ import annotations

import asyncio
import bisect
import threading
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any

from ._describe import coroutine_name
from ._frames import FrameRecord, await_chain, frame_stack, waiting_on
from ._pools import infrastructure_reason
from ._provenance import PROVENANCE
from ._tasks import tasks_of
from ._values import Origin, ReapedTask

__all__ = ["LEDGER", "Ledger"]


class Ledger:
    """Reaped tasks in order, and the mark a runner leaves on the loop it just reaped."""

    REAPED_KEPT = 10_000

    def __init__(self) -> None:
        self.reaped: list[ReapedTask] = []
        self.reap_seq = 0
        #: id() of the loop a runner has just reaped, and (weakly) the tasks
        #: created since (a runner's shutdown makes a few): if those are done
        #: when that loop is closed, close() need not list its tasks again
        self._runner_reaped: int | None = None
        self._after_reap: list[weakref.ref[Any]] = []
        #: loops whose run a BaseException interrupted (weakly), until they are reaped
        self.interrupted: weakref.WeakSet[Any] = weakref.WeakSet()
        #: id(agen.aclose() awaitable) -> (name, function, stack) until its task exists
        self._closers: dict[int, tuple[str, str, tuple[FrameRecord, ...]]] = {}
        self._agen_tasks: weakref.WeakKeyDictionary[
            Any, tuple[str, str, tuple[FrameRecord, ...]]
        ] = weakref.WeakKeyDictionary()
        #: whether a task being created concerns the ledger (:meth:`on_create`):
        #: a plain attribute, read on every task start
        self.watching_creates = False
        self._lock = threading.Lock()

    # -- recording ------------------------------------------------------------------

    def record_reaped(
        self, loop: asyncio.AbstractEventLoop, reaped_by: str, exclude: object = None
    ) -> None:
        """Describe every task still pending on *loop* before it is cancelled.

        Unless a BaseException (KeyboardInterrupt, SystemExit, a
        BaseExceptionGroup) interrupted the loop's run: that exception reaches
        the test itself, and what the runner cancels now (its main task and
        everything under it) is the interrupted run unwinding, not stragglers.
        """
        if loop in self.interrupted:
            self.interrupted.discard(loop)
            return
        try:
            pending = [t for t in tasks_of(loop) if t is not exclude]
        except Exception:  # a loop in a strange state: nothing we can list
            return
        for task in pending:
            self._record(task, reaped_by)

    def record_destroyed(self, task: Any) -> None:
        """A pending task the garbage collector is destroying: nothing referenced it."""
        self._record(
            task,
            "destroyed by the garbage collector while still pending (nothing referenced it, "
            "so it could never finish)",
            kind="destroyed task",
            origin=PROVENANCE.task_origins.of_dying(task),
            keep_ref=False,  # no new reference to an object being finalized
        )

    def _record(
        self,
        task: Any,
        reaped_by: str,
        kind: str = "reaped task",
        origin: Origin | None = None,
        keep_ref: bool = True,
    ) -> None:
        try:
            coroutine = coroutine_name(task.get_coro())
            if infrastructure_reason("reaped task", "", coroutine, ()) is not None:
                return  # a test runner's own task: not worth a description
            if origin is None:
                origin = PROVENANCE.task_origins.get(task)
            agen = self._agen_tasks.get(task)
            if agen is not None:
                name, coroutine, stack = agen
                kind = "async generator"
                reaped_by = (
                    f"async generator {name}() was never closed (no aclose()): the garbage "
                    "collector finalized it and its aclose() task was cancelled at loop "
                    "shutdown, so its finally block did not run to completion"
                )
            else:
                name, stack = task.get_name(), await_chain(task.get_coro())
            build = partial(
                ReapedTask,
                task_ref=weakref.ref(task) if keep_ref else None,
                name=name,
                coroutine=coroutine,
                stack=stack,
                waiting_on=waiting_on(task),
                origin=origin,
                reaped_by=reaped_by,
                kind=kind,
            )
        except Exception as exc:  # a hostile task must not break the runner
            PROVENANCE.errors.append(
                f"describing a task that ended unfinished: {type(exc).__name__}: {exc}"
            )
            return
        self.add_reaped(build)  # the sequence number is its first field

    # -- async generators finalized by the collector -------------------------------

    def note_agen_closer(self, closer: object, agen: Any) -> None:
        """*closer* (``agen.aclose()``) will run as a task: remember whose it is."""
        if len(self._closers) > 1_000:  # closers of loops closed before they ran
            self._closers.clear()
        frame = getattr(agen, "ag_frame", None)
        name = getattr(agen, "__qualname__", None) or type(agen).__qualname__
        module = frame.f_globals.get("__name__") if frame is not None else None
        function = f"{module}.{name}" if module else name
        self._closers[id(closer)] = (name, function, frame_stack(frame, limit=1))
        self.watching_creates = True

    def on_create(self, task: Any, coro: object) -> None:
        """A task was created while :attr:`watching_creates`: claim a noted closer
        for it, or note it as made after a runner's reap."""
        if self._closers:
            info = self._closers.pop(id(coro), None)
            if info is not None:
                self._agen_tasks[task] = info
        if self._runner_reaped is not None:
            self._after_reap.append(weakref.ref(task))
            if len(self._after_reap) > 64:  # that loop is not being closed: stop tracking
                self._forget_runner_reap()
        self._watch()

    def _watch(self) -> None:
        self.watching_creates = bool(self._closers) or self._runner_reaped is not None

    def mark_runner_reaped(self, loop: asyncio.AbstractEventLoop) -> None:
        self._runner_reaped = id(loop)
        self.watching_creates = True

    def _forget_runner_reap(self) -> None:
        self._runner_reaped = None
        self._after_reap.clear()
        self._watch()

    def reaped_by_runner(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Did a runner just reap *loop*, leaving nothing pending since? (Asked
        once, as *loop* closes: the mark is forgotten.)

        Listing a loop's tasks walks every task of the process, and a runner
        closes a loop per test right after reaping it.
        """
        reaped = self._runner_reaped == id(loop) and all(
            (t := ref()) is None or t.done() for ref in self._after_reap
        )
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


def _reap_seq(reaped: ReapedTask) -> int:
    return reaped.seq


LEDGER = Ledger()
