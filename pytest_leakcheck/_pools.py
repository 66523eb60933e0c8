"""What is not a test's leak: test infrastructure and idle pool workers.

Each default exemption is here with its reason, so the README can list them
and a user can see why something was not reported. An idle worker of a
thread pool belongs to its pool, not to the test that happened to make the
pool grow; a worker still running (or blocked inside) the test's job is a
leak. ``Options.strict_pools`` makes idle workers count too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

from ._frames import FrameRecord

__all__ = [
    "INFRASTRUCTURE",
    "WorkerState",
    "infrastructure_reason",
    "is_pool_worker",
    "parked_pool",
    "worker_state",
]

#: (module, function name) of each known pool's "wait for work" loop.
_POOL_LOOPS = {
    ("concurrent.futures.thread", "_worker"): "concurrent.futures.ThreadPoolExecutor",
    ("anyio._backends._asyncio", "run"): "anyio worker thread pool",
    ("trio._core._thread_cache", "_work"): "trio thread cache",
}

#: Modules a parked worker may be inside while it waits for its next job.
_WAIT_MODULES = frozenset({"queue", "threading"})

#: Default exemptions, documented in the README: (what, how it is matched, why).
INFRASTRUCTURE: tuple[tuple[str, str, str], ...] = (
    (
        "anyio test runner tasks",
        "task coroutines *.TestRunner._run_tests_and_fixtures, *.TestRunner._call_in_runner_task",
        "anyio's pytest plugin runs every async test and fixture through these",
    ),
    (
        "AnyIO socket selector thread",
        "thread named 'AnyIO socket selector'",
        "anyio starts it once per process to serve socket waits; it lives for the process",
    ),
    (
        "pytest-timeout timer",
        "thread running pytest_timeout.timeout_timer",
        "pytest-timeout's thread method arms it around each test and cancels it itself",
    ),
    (
        "asyncio default executor shutdown",
        "thread running BaseEventLoop._do_shutdown",
        "asyncio.run() joins the default executor in this helper thread as it closes",
    ),
)


_ANYIO_RUNNER_TASKS = (
    "TestRunner._run_tests_and_fixtures",
    "TestRunner._call_in_runner_task",
)


def _short(function: str) -> str:
    return function.rsplit(".", 1)[-1]


def is_pool_worker(target: str) -> bool:
    """Cheap pre-filter on a thread's target: could it be a known pool's worker?"""
    module, _, name = target.rpartition(".")
    if (module, name) in _POOL_LOOPS:
        return True
    # anyio's WorkerThread and trio's cache threads run a bound method
    return any(target.startswith(pool_module) for pool_module, _ in _POOL_LOOPS)


@dataclass(frozen=True)
class WorkerState:
    """A pool worker's job (None when between jobs) and whether work is queued."""

    job: object | None
    queued: bool
    holding_job: bool  # it has taken a job off its queue and not finished it

    @property
    def busy(self) -> bool:
        return self.queued or self.holding_job


def _pool_frame(frame: FrameType | None) -> FrameType | None:
    while frame is not None:
        if (frame.f_globals.get("__name__"), frame.f_code.co_name) in _POOL_LOOPS:
            return frame
        frame = frame.f_back
    return None


def worker_state(frame: FrameType | None) -> WorkerState | None:
    """Which job a pool worker is on, read from its pool loop's locals.

    A worker that existed before a test is the test's business only if it is
    on a job it was not on before (the job object changed), or if its pool
    holds a job nobody picked up yet: a job submitted just before the check
    looks like an idle worker for a moment.
    """
    pool = _pool_frame(frame)
    if pool is None:
        return None
    local = pool.f_locals
    # ThreadPoolExecutor's _worker: work_item is deleted between jobs.
    # anyio's WorkerThread.run: each job comes with its own future.
    job = local.get("work_item", local.get("future"))
    queue = local.get("work_queue")
    if queue is None:
        queue = getattr(local.get("self"), "queue", None)
    try:
        queued = queue is not None and not queue.empty()
    except Exception:  # an exotic queue: assume it may hold work
        queued = True
    # _worker deletes work_item after each job, so holding one means busy even
    # in the instant between taking it off the queue and calling it.
    return WorkerState(job, queued, local.get("work_item") is not None)


def parked_pool(stack: Sequence[FrameRecord]) -> str | None:
    """The pool a thread is parked in waiting for work, or None.

    Parked means: the innermost pool loop frame has nothing above it but the
    queue/lock wait of its "get next job" call. A worker running a job has
    the job's frames above the loop, and is not parked.
    """
    for index in range(len(stack) - 1, -1, -1):
        rec = stack[index]
        pool = _POOL_LOOPS.get((rec.module, _short(rec.qualname)))
        if pool is not None:
            above = stack[index + 1 :]
            if all(r.module in _WAIT_MODULES for r in above):
                return pool
            return None
    return None


def infrastructure_reason(
    kind: str, name: str, target: str | None, stack: Sequence[FrameRecord]
) -> str | None:
    """Why this thread/task is infrastructure rather than a leak, or None."""
    if kind in ("task", "reaped task"):
        if target and target.endswith(_ANYIO_RUNNER_TASKS):
            return INFRASTRUCTURE[0][2]
        return None
    if name == "AnyIO socket selector":
        return INFRASTRUCTURE[1][2]
    if target == "pytest_timeout.timeout_timer":
        return INFRASTRUCTURE[2][2]
    if target and target.endswith("BaseEventLoop._do_shutdown"):
        return INFRASTRUCTURE[3][2]
    return None
