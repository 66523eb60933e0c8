"""trio: the tasks of every trio run started while checking is on.

asyncio keeps a registry of its tasks; trio does not, and a trio task can
only be listed from inside its run (``trio.lowlevel.current_root_task()``),
while the check runs outside it: after the test, in a pytest hook, between
two steps of anyio's guest-mode run. So every run started while checking is
on gets our instrument (``task_spawned`` / ``task_exited``), which remembers
the run's root task and each task's start site and owner. A check then walks
each live run's task tree from its root task, through every nursery, which
finds a task a test left in a system nursery or in a nursery a
higher-scoped fixture opened.

When a run's main task returns, trio cancels whatever is left in its system
nursery, silently, as ``asyncio.run()`` does with pending tasks. The
instrument describes those tasks at that moment, so they are reported as
reaped tasks like asyncio's.

The instrument is added to each run by wrapping trio's ``setup_runner``, the
one function both ``trio.run`` and ``trio.lowlevel.start_guest_run`` (anyio's
pytest runner) go through. trio need not be imported yet: an import hook
wraps it when it is. trio's cached threads are pool workers (``_pools``).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from types import CodeType, ModuleType
from typing import Any

from ._describe import coroutine_name
from ._frames import await_chain, set_trio_codes
from ._ledger import LEDGER
from ._on_import import when_imported
from ._provenance import PROVENANCE
from ._values import Leak, Origin, ReapedTask, new_origin

__all__ = ["describe", "install", "live_tasks", "origin", "running"]

_RUN_MODULE = "trio._core._run"
_TRIO_CORE = "trio._core."

#: trio's own task that runs ``run_sync_soon`` callbacks: part of every run.
_INTERNAL_TASKS = frozenset({"trio._core._entry_queue.EntryQueue.task"})

#: root task of each trio run in progress -> ident of the thread running it
_ROOTS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


class _Recorder:
    """The trio instrument: roots, start sites, and tasks reaped at run end.

    Duck-typed (trio accepts any object with the hook methods), so importing
    this module never imports trio. A hook must never raise: trio would drop
    the instrument and log the error in the user's run.
    """

    def task_spawned(self, task: Any) -> None:
        try:  # (not contextlib.suppress: that costs a Python call per start)
            if task.parent_nursery is None:  # the run's init task: its root
                _ROOTS[task] = threading.get_ident()
            PROVENANCE.record_start(PROVENANCE.task_origins, task, 1)
        except Exception:  # bookkeeping must never break the run
            pass

    def task_exited(self, task: Any) -> None:
        try:
            nursery = task.parent_nursery
            if nursery is None:
                _ROOTS.pop(task, None)
            elif nursery.parent_task.parent_nursery is None:  # in a system nursery: main?
                runner = sys.modules[_RUN_MODULE].GLOBAL_RUN_CONTEXT.runner
                if task is getattr(runner, "main_task", None):
                    _record_reaped(getattr(runner, "system_nursery", None))
        except Exception:  # bookkeeping must never break the run
            pass


_RECORDER = _Recorder()


def _record_reaped(nursery: Any) -> None:
    """Describe what the system nursery still holds: trio cancels it next."""
    if nursery is None:
        return
    for task in list(nursery.child_tasks):
        if coroutine_name(task.coro) in _INTERNAL_TASKS:
            continue
        LEDGER.add_reaped(_reaped_builder(task))


def _reaped_builder(task: Any) -> Callable[[int], ReapedTask]:
    ref, name, coroutine = weakref.ref(task), str(task.name), coroutine_name(task.coro)
    stack, started = await_chain(task.coro), _trimmed(origin(task))

    def build(seq: int) -> ReapedTask:
        return ReapedTask(
            seq=seq,
            task_ref=ref,
            name=name,
            coroutine=coroutine,
            stack=stack,
            waiting_on=None,
            origin=started,
            reaped_by="cancelled by trio with its system nursery when the run's main task returned",
        )

    return build


def _walk(root: Any) -> Iterator[Any]:
    """Every task under *root*, depth first, through every nursery."""
    stack = [root]
    seen: set[int] = set()
    while stack:
        task = stack.pop()
        if id(task) in seen:
            continue
        seen.add(id(task))
        if task is not root:
            yield task
        for nursery in list(task.child_nurseries):
            stack.extend(list(nursery.child_tasks))


def _current_trio_task() -> Any:
    module = sys.modules.get("trio")
    if module is None:
        return None
    try:
        return module.lowlevel.current_task()
    except RuntimeError:  # not inside a trio run
        return None


def running() -> bool:
    """Is a trio run in progress in this process?"""
    return bool(_ROOTS)


def live_tasks(*, exclude_current: bool = True) -> list[Any]:
    """Every live task of every trio run in progress (none if trio is unused).

    A snapshot keeps the calling task (``exclude_current=False``): checked
    later from another task, it was there before and is not a leak.
    """
    if not _ROOTS:
        return []
    me = _current_trio_task() if exclude_current else None
    found: list[Any] = []
    for root in list(_ROOTS.keys()):
        with contextlib.suppress(Exception):  # a tree mutating in another thread
            found.extend(
                task
                for task in _walk(root)
                if task is not me and coroutine_name(task.coro) not in _INTERNAL_TASKS
            )
    return found


def origin(task: Any) -> Origin | None:
    """Who started *task*, and where (as captured: :func:`describe` trims the sites)."""
    return PROVENANCE.task_origins.get(task)


def _trimmed(found: Origin | None) -> Origin | None:
    """*found* without trio's spawn machinery, innermost: not where the task was started.

    Done when a report is built, not on every check that only asks the owner.
    """
    if found is None or not found.sites:
        return found
    return new_origin((found.sites.without_leaf(_TRIO_CORE), *found[1:]))


def describe(task: Any, origin: Origin | None) -> Leak:
    """A live trio task as a Leak of kind ``task``, with the nursery it is in."""
    nursery = task.parent_nursery
    parent = nursery.parent_task if nursery is not None else None
    if parent is not None and parent.parent_nursery is None:
        where = "in a system nursery of its trio run"
    else:
        where = f"in a nursery of trio task {parent.name!r}" if parent else "in its trio run"
    run_thread = next((ident for root, ident in list(_ROOTS.items()) if _under(task, root)), None)
    # Checked from the thread that drives the run, but not from inside it: the
    # run cannot step until we return (anyio's guest run between tests).
    suspended = run_thread == threading.get_ident() and _current_trio_task() is None
    return Leak(
        kind="task",
        name=str(task.name),
        identity=f"trio task, {where}",
        target=coroutine_name(task.coro),
        stack=await_chain(task.coro),
        origin=_trimmed(origin),
        note="its trio run is paused between steps: it cannot finish until the run resumes"
        if suspended
        else None,
    )


def _under(task: Any, root: Any) -> bool:
    while task is not None:
        if task is root:
            return True
        nursery = task.parent_nursery
        task = nursery.parent_task if nursery is not None else None
    return False


# -- installation ----------------------------------------------------------------


def _patch(module: ModuleType) -> Callable[[], None]:
    original = module.__dict__.get("setup_runner")
    if original is None:  # a trio without it: trio tasks are not tracked
        return lambda: None
    run_loop, run = module.__dict__.get("unrolled_run"), module.__dict__.get("run")
    if isinstance(getattr(run_loop, "__code__", None), CodeType) and isinstance(
        getattr(run, "__code__", None), CodeType
    ):
        set_trio_codes(run_loop.__code__, run.__code__)  # type: ignore[union-attr]

    def setup_runner(*args: Any, **kwargs: Any) -> Any:
        runner = original(*args, **kwargs)
        with contextlib.suppress(Exception):  # bookkeeping must never stop a run
            runner.instruments.add_instrument(_RECORDER)
        return runner

    setup_runner.__wrapped__ = original  # type: ignore[attr-defined]
    module.setup_runner = setup_runner  # type: ignore[attr-defined]

    def undo() -> None:
        if module.__dict__.get("setup_runner") is setup_runner:
            module.setup_runner = original  # type: ignore[attr-defined]

    return undo


def install() -> Callable[[], None]:
    """Record every trio run started from now on; returns the undo."""
    return when_imported(_RUN_MODULE, _patch)
