"""Give up on a block that does not end, and grade the criterion from what was seen.

A submission can swallow a cancellation, wait on a thread, or block the event
loop outright; then the criterion's own code never runs again, and only the
process's hard limit (20-30 s) would end it. A :class:`HangGuard` is a timer
thread: if the guarded block has not ended *after* seconds, it asks the
criterion for its verdict on what was seen so far (the *judge*, which reads
plain data and never touches the event loop) and hands it to the context's
``conclude``, which writes it, with every thread's stack, and ends the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, NamedTuple


class Conclusion(NamedTuple):
    """A verdict reached without the criterion's own code: passed, reason, evidence."""

    passed: bool
    reason: str
    evidence: str = ""


Conclude = Callable[[Conclusion], None]
"""Writes the verdict and ends the grading process (the worker's); never returns."""


class HangGuard:
    """``with HangGuard(conclude, after, judge):`` concludes if the block outlives *after* s.

    With *conclude* None (a criterion run outside the worker, as in unit tests)
    the guard does nothing: there is no process of ours to end.
    """

    def __init__(
        self, conclude: Conclude | None, after: float, judge: Callable[[], Conclusion]
    ) -> None:
        self._conclude = conclude
        self._after = after
        self._judge = judge
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._waiting = _grader_tasks()

    def start(self) -> None:
        """Start counting now (once; later calls do nothing): e.g. when the block is left."""
        with self._lock:
            if self._conclude is None or self._timer is not None or self._stopped:
                return
            self._timer = threading.Timer(self._after, self._fire)
            self._timer.daemon = True
            self._timer.name = "kata-grader hang guard"
            self._timer.start()

    def restart(self, after: float) -> None:
        """Count *after* seconds from now instead (e.g. from the cancel on)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._after = after
        self.start()

    def cancel(self) -> None:
        """The block ended: stand down."""
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()

    def __enter__(self) -> HangGuard:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cancel()

    def _fire(self) -> None:
        assert self._conclude is not None
        try:
            conclusion = self._judge()
        except Exception as exc:  # the judge reads what the submission left: say, never die
            conclusion = Conclusion(False, f"the block hung, and judging it raised {exc!r}")
        if not conclusion.passed:
            where = "\n\n".join(filter(None, (_await_stack(c) for c in self._waiting())))
            if where:
                where = f"where the grader's task waits on the block:\n{where}"
                conclusion = conclusion._replace(
                    evidence="\n\n".join(filter(None, (conclusion.evidence, where)))
                )
        self._conclude(conclusion)


def _grader_tasks() -> Callable[[], list[Any]]:
    """Called in the criterion's task: later, the coroutines of its task and its consumers.

    A hung block is entered from the grader's own tasks, which leak reports
    leave out; their await chains say where in the submission the block waits.
    """
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio: trio, or no loop at all (a unit test)
        try:
            import trio

            coro = trio.lowlevel.current_task().coro
        except (ImportError, RuntimeError):
            return list
        return lambda: [coro]
    me = asyncio.current_task()

    def coroutines() -> list[Any]:
        for _ in range(3):  # the loop may add a task while this thread looks: look again
            try:
                consumers = [
                    t
                    for t in asyncio.all_tasks(loop)
                    if t.get_name().startswith("kata-grader consumer")
                ]
                break
            except RuntimeError:
                consumers = []
        return [t.get_coro() for t in [me, *consumers] if t is not None]

    return coroutines


def _await_stack(coro: Any) -> str:
    """The frames a suspended coroutine waits in, outermost first, traceback-style."""
    lines = []
    while coro is not None:
        frame = next(
            (
                getattr(coro, a)
                for a in ("cr_frame", "gi_frame", "ag_frame")
                if getattr(coro, a, None)
            ),
            None,
        )
        if frame is not None:
            code = frame.f_code
            lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
        coro = next(
            (
                getattr(coro, a)
                for a in ("cr_await", "gi_yieldfrom", "ag_await")
                if getattr(coro, a, None)
            ),
            None,
        )
    return "\n".join(lines)
