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
from typing import Any

from ._describe import coroutine_name
from ._frames import await_chain, waiting_on
from ._pools import infrastructure_reason
from ._provenance import PROVENANCE
from ._values import ReapedTask

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
        self._lock = threading.Lock()

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
                        origin=PROVENANCE.task_origins.get(task),
                        reaped_by=reaped_by,
                    )
                except Exception as exc:  # a hostile task must not break the runner
                    PROVENANCE.errors.append(
                        f"describing a task reaped at loop shutdown: {type(exc).__name__}: {exc}"
                    )
                    continue
                self.reap_seq += 1
                self.reaped.append(reaped)
            if len(self.reaped) > self.REAPED_KEPT:
                del self.reaped[: len(self.reaped) - self.REAPED_KEPT]

    def mark_runner_reaped(self, loop: asyncio.AbstractEventLoop) -> None:
        self._runner_reaped = id(loop)

    @property
    def runner_reap_pending(self) -> bool:
        return self._runner_reaped is not None

    def note_after_reap(self, task: Any) -> None:
        self._after_reap.append(weakref.ref(task))
        if len(self._after_reap) > 64:  # that loop is not being closed: stop tracking
            self._forget_runner_reap()

    def _forget_runner_reap(self) -> None:
        self._runner_reaped = None
        self._after_reap.clear()

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
