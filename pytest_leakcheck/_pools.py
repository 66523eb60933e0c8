"""What is not a test's leak: test infrastructure and idle pool workers.

Each default exemption is here with its reason, so the README can list them
and a user can see why something was not reported. An idle worker of a
thread pool belongs to its pool, not to the test that happened to make the
pool grow; a worker still running (or blocked inside) the test's job is a
leak. ``Options.strict_pools`` makes idle workers count too.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._frames import FrameRecord

__all__ = ["INFRASTRUCTURE", "infrastructure_reason", "parked_pool"]

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
        "anyio test runner task",
        "task coroutine *.TestRunner._run_tests_and_fixtures",
        "anyio's pytest plugin keeps one runner task per loop to run every async test",
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


def _short(function: str) -> str:
    return function.rsplit(".", 1)[-1]


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
    if kind == "task":
        if target and target.endswith("TestRunner._run_tests_and_fixtures"):
            return INFRASTRUCTURE[0][2]
        return None
    if name == "AnyIO socket selector":
        return INFRASTRUCTURE[1][2]
    if target == "pytest_timeout.timeout_timer":
        return INFRASTRUCTURE[2][2]
    if target and target.endswith("BaseEventLoop._do_shutdown"):
        return INFRASTRUCTURE[3][2]
    return None
