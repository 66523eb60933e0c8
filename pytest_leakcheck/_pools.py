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
    "ANYIO_RUNNER_TASKS",
    "INFRASTRUCTURE",
    "WorkerState",
    "infrastructure_reason",
    "is_pool_worker",
    "worker_state",
]

#: (module, function name) of each known pool's "wait for work" loop.
_POOL_LOOPS = {
    ("concurrent.futures.thread", "_worker"): "concurrent.futures.ThreadPoolExecutor",
    ("anyio._backends._asyncio", "run"): "anyio worker thread pool",
    ("trio._core._thread_cache", "_work"): "trio thread cache",
}

#: The local a pool loop holds its current job in, per pool loop (job objects
#: are compared by identity: the same job before and after a test is not new).
_JOB_LOCALS = {
    "_worker": "work_item",  # ThreadPoolExecutor: deleted between jobs
    "run": "future",  # anyio: every job comes with its own future, deleted between jobs
}

#: trio's cache runs each job in this method, called from its loop.
_TRIO_JOB_RUNNER = "_handle_job"

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
    (
        "anyio process pool shutdown task",
        "task coroutine anyio._backends._asyncio._shutdown_process_pool_on_exit "
        "(named 'AnyIO process pool shutdown task') or anyio._backends._trio."
        "_shutdown_process_pool (a trio system task)",
        "anyio.to_process starts it once per event loop to stop the worker processes when "
        "the loop ends; it lives exactly as long as the loop",
    ),
    (
        "pytest-rerunfailures status server",
        "thread running pytest_rerunfailures.ServerStatusDB.run_server",
        "pytest-rerunfailures starts it in every pytest session, also the in-process ones "
        "pytester runs inside a test, and never stops it: it waits in accept() for good",
    ),
    (
        "libuv worker threads",
        "native thread named 'libuv-worker'",
        "uvloop's libuv starts a process-wide pool of 4 threads on first use (DNS, files) "
        "and keeps it for the life of the process",
    ),
)

_WHY = {what: why for what, _, why in INFRASTRUCTURE}

#: Qualified names of anyio's test runner coroutines (the exemption matches a
#: task's ``module.qualname`` ending in one).
ANYIO_RUNNER_TASKS = (
    "TestRunner._run_tests_and_fixtures",
    "TestRunner._call_in_runner_task",
)

_ANYIO_PROCESS_POOL_TASKS = frozenset(
    {
        "anyio._backends._asyncio._shutdown_process_pool_on_exit",
        "anyio._backends._trio._shutdown_process_pool",
    }
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
    """A pool worker's current job, how much work waits in its queue, and its pool."""

    pool: str
    job: object | None  # the job it holds (None between jobs, or where we cannot tell)
    busy: bool  # it holds a job (taken off its queue and not finished)
    pending: int  # items in its queue; -1 when the queue cannot be measured

    @property
    def parked(self) -> bool:
        """Idle in its pool, waiting for work: the pool's, not any test's."""
        return not self.busy and self.pending <= 0


def _pool_frame(frame: FrameType | None) -> tuple[FrameType | None, bool]:
    """The innermost pool loop frame under *frame*, and whether trio's job runner is above it."""
    in_trio_job = False
    while frame is not None:
        name = frame.f_code.co_name
        if (frame.f_globals.get("__name__"), name) in _POOL_LOOPS:
            return frame, in_trio_job
        in_trio_job = in_trio_job or name == _TRIO_JOB_RUNNER
        frame = frame.f_back
    return None, False


def _pending(queue: object) -> int:
    if queue is None:
        return 0
    try:
        return int(queue.qsize())  # type: ignore[attr-defined]
    except Exception:  # an exotic queue: assume it may hold work
        return -1


def worker_state(frame: FrameType | None) -> WorkerState | None:
    """Which job a pool worker is on and what waits for it, read from its loop's locals.

    Wrapper frames above the wait (a library that instruments blocking calls,
    such as blockbuster) do not make an idle worker busy: busy means holding a
    job, told by the job local (ThreadPoolExecutor, anyio) or by trio's job
    runner frame on the stack.
    """
    pool_frame, in_trio_job = _pool_frame(frame)
    if pool_frame is None:
        return None
    code = pool_frame.f_code.co_name
    pool = _POOL_LOOPS[(str(pool_frame.f_globals.get("__name__")), code)]
    local = pool_frame.f_locals
    job_local = _JOB_LOCALS.get(code)
    job = local.get(job_local) if job_local else None
    queue = local.get("work_queue")
    if queue is None:
        queue = getattr(local.get("self"), "queue", None)
    busy = in_trio_job if job_local is None else job is not None
    return WorkerState(pool, job, busy, _pending(queue))


def infrastructure_reason(
    kind: str, name: str, target: str | None, stack: Sequence[FrameRecord]
) -> str | None:
    """Why this thread/task is infrastructure rather than a leak, or None."""
    if kind in ("task", "reaped task", "destroyed task"):
        if target and target.endswith(ANYIO_RUNNER_TASKS):
            return _WHY["anyio test runner tasks"]
        if target in _ANYIO_PROCESS_POOL_TASKS:
            return _WHY["anyio process pool shutdown task"]
        return None
    if kind == "native thread" and name == "libuv-worker":
        return _WHY["libuv worker threads"]
    if name == "AnyIO socket selector":
        return _WHY["AnyIO socket selector thread"]
    if target == "pytest_timeout.timeout_timer":
        return _WHY["pytest-timeout timer"]
    if target and target.endswith("BaseEventLoop._do_shutdown"):
        return _WHY["asyncio default executor shutdown"]
    if target == "pytest_rerunfailures.ServerStatusDB.run_server":
        return _WHY["pytest-rerunfailures status server"]
    return None
