"""The verdict: stragglers since a snapshot, after a grace period.

A thread told to stop needs a moment to exit, so a check looks again with
counted, exponentially growing sleeps (after goleak's counted retries: 1 µs doubling to a
100 ms cap) until the summed sleeps reach the timeout. Counted, not timed,
because wall time lies on a loaded machine. A clean check never sleeps, and
neither does one whose stragglers cannot change (tasks on a stopped loop).

One generator holds the schedule; the sync and async drivers only differ in
how they sleep (the async one lets the event loop run, so cancelled tasks can
actually finish during the grace).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Generator
from dataclasses import replace

from ._options import Options, backoff
from ._snapshot import Scan, Snapshot, scan
from ._values import Leak, Owner

__all__ = ["backoff", "find_leaks", "find_leaks_async"]


def _options(options: Options | None, timeout: float | None) -> Options:
    opts = options if options is not None else Options()
    if timeout is not None:
        opts = replace(opts, timeout=timeout)
    return opts


def _plan(
    since: Snapshot | None, options: Options | None, timeout: float | None, owner: Owner | None
) -> list[Leak] | Generator[float, None, list[Leak]]:
    """The verdict after one look, or the grace schedule when waiting may help.

    A clean check (the common case) is one look: no generator, no sleep.
    """
    if since is not None and since.pid != os.getpid():
        return []  # a forked child: its parent's threads are not its leaks
    opts = _options(options, timeout)
    found = scan(since, opts, owner)
    if not found.leaks or not found.can_progress:
        return found.leaks
    return _schedule(since, opts, owner, found)


def _schedule(
    since: Snapshot | None, options: Options, owner: Owner | None, found: Scan
) -> Generator[float, None, list[Leak]]:
    """The grace: look again after each sleep it yields, from the first look."""
    for delay in backoff(options.timeout):
        yield delay
        found = scan(since, options, owner)
        if not found.leaks or not found.can_progress:
            break
    return found.leaks


def find_leaks(
    since: Snapshot | None,
    *,
    timeout: float | None = None,
    options: Options | None = None,
    owner: Owner | None = None,
) -> list[Leak]:
    """Threads and tasks alive now that were not in *since*, after grace.

    ``timeout=0`` answers for this instant. *owner* restricts the verdict to
    what that owner started (the pytest plugin's blame rules).
    """
    steps = _plan(since, options, timeout, owner)
    if isinstance(steps, list):
        return steps
    try:
        while True:
            time.sleep(next(steps))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def _sleep(seconds: float) -> None:
    """Sleep on whichever event loop runs us, without importing one we don't need."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        trio = sys.modules.get("trio")
        if trio is None:
            raise RuntimeError("find_leaks_async() needs a running asyncio or trio loop") from None
        await trio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)


async def find_leaks_async(
    since: Snapshot | None,
    *,
    timeout: float | None = None,
    options: Options | None = None,
    owner: Owner | None = None,
) -> list[Leak]:
    """:func:`find_leaks` for async code: the grace sleeps let the loop run."""
    steps = _plan(since, options, timeout, owner)
    if isinstance(steps, list):
        return steps
    try:
        while True:
            await _sleep(next(steps))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
