"""The floor under a task start's cost: what any Python-level instrumentation pays.

Why: issue 20 asks for at most 1 µs per start. This measures, in one
process and side by side, ``loop.create_task(coro)`` + ``cancel()`` with
``BaseEventLoop.create_task`` replaced by ever fuller Python wrappers, down
to the least a creation site needs (no plugin code in the first three):

- ``pass-through``: a wrapper that only calls the original;
- ``+ record``: and stores a weak reference and a tuple in a dict by id;
- ``+ one-frame walk``: and walks the stack to the loop's ``Handle._run``
  (one frame here: the coroutine that calls ``create_task``), keeping code
  objects and offsets;
- ``pytest-leakcheck``: the plugin's own instrumentation (``_patches.install``,
  an owner pushed as a test would).

Each is the fastest of many repeats of 1,000 starts (the machine's other
tenants only ever add time); the extra is against the plain run of the
same round, the median over rounds.

Run:  .venv/bin/python benchmarks/start_floor.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from pytest_leakcheck import _patches
from pytest_leakcheck._provenance import PROVENANCE
from pytest_leakcheck._values import Owner

STARTS = 1_000
REPEATS = 40

_ORIGINAL = asyncio.BaseEventLoop.create_task
_HANDLE_RUN = asyncio.events.Handle._run.__code__
_RECORDS: dict[int, tuple[Any, ...]] = {}
_CONTEXT = ("call", None, "MainThread")


def _pass_through(loop: Any, coro: Any, *args: Any, **kwargs: Any) -> Any:
    return _ORIGINAL(loop, coro, *args, **kwargs)


def _record(loop: Any, coro: Any, *args: Any, **kwargs: Any) -> Any:
    task = _ORIGINAL(loop, coro, *args, **kwargs)
    _RECORDS[id(task)] = (weakref.ref(task), None, _CONTEXT)
    return task


def _walk(loop: Any, coro: Any, *args: Any, **kwargs: Any) -> Any:
    task = _ORIGINAL(loop, coro, *args, **kwargs)
    frame: Any = sys._getframe(1)
    out: list[Any] = []
    while frame is not None and frame.f_code is not _HANDLE_RUN:
        out.append(frame.f_code)
        out.append(frame.f_lasti)
        frame = frame.f_back
    _RECORDS[id(task)] = (weakref.ref(task), tuple(out), _CONTEXT)
    return task


async def _noop() -> None:
    pass


async def _fastest() -> float:
    """µs per create_task + cancel, fastest of REPEATS batches."""
    loop = asyncio.get_running_loop()
    best = float("inf")
    for _ in range(REPEATS):
        coros = [_noop() for _ in range(STARTS)]
        started = time.perf_counter()
        for coro in coros:
            loop.create_task(coro).cancel()
        best = min(best, time.perf_counter() - started)
        await asyncio.sleep(0)  # the cancelled tasks run to their end
        await asyncio.sleep(0)
    return best / STARTS * 1e6


def _with_wrapper(wrapper: Callable[..., Any] | None) -> float:
    asyncio.BaseEventLoop.create_task = wrapper or _ORIGINAL  # type: ignore[method-assign]
    try:
        return asyncio.run(_fastest())
    finally:
        asyncio.BaseEventLoop.create_task = _ORIGINAL  # type: ignore[method-assign]
        _RECORDS.clear()


def _with_plugin() -> float:
    _patches.install()
    try:
        return asyncio.run(_fastest())
    finally:
        _patches.uninstall()


CASES: dict[str, Callable[[], float]] = {
    "plain": lambda: _with_wrapper(None),
    "pass-through": lambda: _with_wrapper(_pass_through),
    "+ record": lambda: _with_wrapper(_record),
    "+ one-frame walk": lambda: _with_wrapper(_walk),
    "pytest-leakcheck": _with_plugin,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every case")
    opts = parser.parse_args(argv)
    if opts.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {opts.rounds}")
    owner = Owner("test", "start_floor")
    PROVENANCE.push_owner(owner)  # as under pytest: the tests' thread, an owner pushed
    PROVENANCE.phase = "call"
    extra: dict[str, list[float]] = {name: [] for name in CASES}
    plain: list[float] = []
    for _ in range(opts.rounds):
        base = CASES["plain"]()
        plain.append(base)
        for name, case in CASES.items():
            extra[name].append(case() - base)
    PROVENANCE.pop_owner(owner)
    print(f"| case               | extra µs per start (median of {opts.rounds}) | x plain |")
    print("|--------------------|---------------------------------|---------|")
    base = statistics.median(plain)
    for name in CASES:
        value = statistics.median(extra[name])
        print(f"| {name:<18} | {value:>31.3f} | {(base + value) / base:6.3f}x |")
    print(f"\nplain: {base:.3f} µs per create_task + cancel; python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
