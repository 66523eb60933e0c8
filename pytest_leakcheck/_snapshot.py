"""Snapshots of what is alive, and the scan for what appeared since one.

Identity is by object (a ``Thread``, a ``Task``), never by name: two threads
called "worker" are two threads, and a thread that reuses a dead one's name
is new. A snapshot holds weak references only, so taking one never keeps a
finished thread or task alive.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import _patches, _trio
from ._describe import (
    describe_native_thread,
    describe_reaped,
    describe_task,
    describe_thread,
    describe_unmanaged_thread,
    thread_target,
)
from ._frames import functions, thread_frames
from ._ledger import LEDGER
from ._loops import LOOPS
from ._options import Options, backoff
from ._os_threads import (
    READ_NOW,
    native_name,
    native_thread_ids,
    only_python_threads,
    os_thread_count,
    os_thread_ids,
)
from ._pools import WorkerState, infrastructure_reason, is_pool_worker, worker_state
from ._provenance import PROVENANCE
from ._tasks import registered_count
from ._values import BACKGROUND, Leak, Origin, Owner

__all__ = ["Scan", "Snapshot", "scan", "snapshot"]

#: id(object) -> weak reference: membership is "same id and the reference
#: still points at it", so a recycled id is never mistaken for an old object.
#: Plain dicts of plain (shared, callback-free) references: a WeakSet would
#: build a callback reference per member and leave the garbage collector
#: more to walk, on every test.
Refs = dict[int, "weakref.ref[Any]"]


def _refs(objects: Iterable[Any]) -> Refs:
    return {id(obj): weakref.ref(obj) for obj in objects}


def _holds(refs: Refs, obj: object) -> bool:
    ref = refs.get(id(obj))
    return ref is not None and ref() is obj


@dataclass(eq=False, slots=True)
class Snapshot:
    """What was alive at one instant (weakly held).

    Not frozen: one is built per test, and a frozen dataclass pays an
    ``object.__setattr__`` per field (a quarter of a clean snapshot's cost).
    Nothing mutates one after it is taken.
    """

    threads: Refs
    tasks: Refs
    python_idents: frozenset[int]
    native_tids: frozenset[int] | None
    reap_seq: int
    #: pool workers: id(thread) -> (the job it was on, weakly; its queue's
    #: length); an entry speaks for the thread only while ``threads`` holds it
    pool_jobs: dict[int, tuple[Any, int]] = field(default_factory=dict)
    pid: int = field(default_factory=os.getpid)
    #: threads and tasks started through the instrumentation so far (see :func:`_unchanged`)
    starts: int = -1
    #: OS threads of the process (None: not counted)
    os_threads: int | None = None
    #: tasks in asyncio's module-level sets (None: not counted)
    registered: int | None = None

    def as_of(self, starts: int, registered: int | None) -> Snapshot:
        """This look, moved on to *starts* (what started since has finished).

        Built field by field: ``dataclasses.replace`` costs three times more.
        """
        return Snapshot(
            self.threads,
            self.tasks,
            self.python_idents,
            self.native_tids,
            self.reap_seq,
            self.pool_jobs,
            self.pid,
            starts,
            self.os_threads,
            registered,
        )

    def had_thread(self, thread: threading.Thread) -> bool:
        return _holds(self.threads, thread)

    def had_task(self, task: object) -> bool:
        return _holds(self.tasks, task)

    def job_of(self, thread: threading.Thread) -> tuple[Any, int] | None:
        """(a reference to the job *thread* was on, its queue's length), if it was a worker."""
        if id(thread) not in self.pool_jobs or not self.had_thread(thread):
            return None
        return self.pool_jobs[id(thread)]


#: thread -> could it be a pool worker (what a thread runs never changes; a
#: long-lived thread, such as a plugin's server, is asked about on every test)
_POOL_CANDIDATES: weakref.WeakKeyDictionary[threading.Thread, bool] = weakref.WeakKeyDictionary()


def _runs_pool_loop(thread: threading.Thread) -> bool:
    answer = _POOL_CANDIDATES.get(thread)
    if answer is None:
        answer = _POOL_CANDIDATES[thread] = is_pool_worker(thread_target(thread))
    return answer


def _job_ref(state: WorkerState) -> Any:
    """The job, held weakly (a snapshot keeps nothing of the code under test alive)."""
    if state.job is None:
        return None
    try:
        return weakref.ref(state.job)
    except TypeError:  # not weakly referenceable: its id, compared while it lives
        return id(state.job)


def _same_job(ref: Any, job: object) -> bool:
    if ref is None or job is None:
        return ref is None and job is None
    if isinstance(ref, int):
        return ref == id(job)
    return ref() is job


def _pool_jobs(
    threads: list[threading.Thread], frames: dict[int, Any]
) -> dict[int, tuple[Any, int]]:
    """Each pool worker's current job and queue length: more of either later is new work."""
    main = threading.main_thread()
    jobs: dict[int, tuple[Any, int]] = {}
    for thread in threads:
        if thread is main or thread.ident is None or not _runs_pool_loop(thread):
            continue
        state = worker_state(frames.get(thread.ident))
        if state is not None:
            jobs[id(thread)] = (_job_ref(state), state.pending)
    return jobs


def _new_work(thread: threading.Thread, since: Snapshot, frames: dict[int, Any]) -> bool:
    """Has a worker that existed at *since* taken (or been queued) a new job?

    A job is new when the worker holds another one than it did, or when its
    queue got longer: a pool's shutdown marker queued behind a stuck job (by
    ``shutdown(wait=False)`` or ``loop.close()``) was there at the snapshot,
    and is no later test's new work.
    """
    before = since.job_of(thread)
    if before is None:
        return False
    state = worker_state(frames.get(thread.ident or -1))
    if state is None:
        return False
    job_ref, pending = before
    if state.job is not None and not _same_job(job_ref, state.job):
        return True
    return state.pending > pending or (state.pending < 0 and pending >= 0)


#: The last full look at what is alive (a snapshot, or a check that found
#: nothing): while nothing can have started since, it is the next snapshot too.
_LAST: list[Snapshot | None] = [None]


def snapshot(*, native: bool = True) -> Snapshot:
    """Record every live thread and pending task, on every known event loop.

    Also starts recording origins (where each thread and task is started) for
    the rest of the process, if nothing else did: a report can only say where
    a straggler was started if it was started after recording began.

    The last full look is reused while nothing can be alive now that it did
    not hold (:func:`_unchanged`): a test's snapshot is mostly the previous
    test's check, taken a moment earlier.
    """
    _patches.ensure_installed()
    frames = thread_frames()
    marks = _marks()
    last = _LAST[0]
    if (
        last is not None
        and last.pid == os.getpid()
        and last.registered is not None
        and (last.native_tids is not None) == native
        and _unchanged(last, frames, native, marks)
    ):
        return _moved_on(last, marks)
    return _remember(
        marks,
        threading.enumerate(),
        frames,
        [*LOOPS.pending_tasks(), *_trio.live_tasks(exclude_current=False)],
        os_thread_count() if native else None,
    )


#: (starts, reap_seq, registered tasks): read before a listing, so that
#: whatever starts during it makes the listing's snapshot look stale
_Marks = tuple[int, int, int | None]


def _marks() -> _Marks:
    return PROVENANCE.starts, LEDGER.reap_seq, registered_count()


def _moved_on(look: Snapshot, marks: _Marks) -> Snapshot:
    """*look*, found unchanged, as of *marks*: the last full look from now on
    (what started since it has finished)."""
    if (look.starts, look.registered) != (marks[0], marks[2]):
        look = look.as_of(marks[0], marks[2])
    _LAST[0] = look
    return look


def _remember(
    marks: _Marks,
    threads: list[threading.Thread],
    frames: dict[int, Any],
    tasks: list[Any],
    count: int | None,
) -> Snapshot:
    """A snapshot of what was just listed, kept as the last full look
    (*count*: the OS threads, read with the listing; None: not compared)."""
    starts, reap_seq, registered = marks
    taken = _LAST[0] = Snapshot(
        threads=_refs(threads),
        pool_jobs=_pool_jobs(threads, frames) if len(threads) > 1 else {},
        tasks=_refs(tasks),
        python_idents=frozenset(frames),
        native_tids=None if count is None else os_thread_ids(frames, threads, count),
        reap_seq=reap_seq,
        starts=starts,
        os_threads=count,
        registered=registered,
    )
    return taken


def _unchanged(
    since: Snapshot, frames: dict[int, Any], native: bool, marks: _Marks | None = None
) -> bool:
    """Can nothing new be alive since *since*? The clean check's short answer.

    True when nothing was reaped, no pool worker existed (one could take new
    work), the same Python threads run, the OS thread count is the same,
    asyncio's task sets did not grow (a task built by ``asyncio.Task(...)``,
    not through ``create_task``, is added there too) and whatever was
    started through the instrumentation since has finished. What this
    cannot see: such a task built while as many other tasks were freed (on
    3.14, whose task sets cannot be counted: built at all in a test that
    starts nothing else), a miss the README lists.
    """
    if not (
        since.reap_seq == LEDGER.reap_seq
        and not since.pool_jobs
        and frames.keys() == since.python_idents
        and (not native or since.os_threads is None or since.os_threads == os_thread_count())
    ):
        return False
    if since.registered is None:  # tasks cannot be counted here
        return since.starts == PROVENANCE.starts
    # The starts up to the marks' count and the task sets as they had them
    # (read after it): a task built meanwhile is in the sets, not in the starts.
    starts, _, now = marks or _marks()
    started = PROVENANCE.started_since(since.starts, starts)
    if started is None:
        return False
    finished_tasks = 0
    for obj in started:
        if isinstance(obj, asyncio.Future) and obj.done():
            finished_tasks += 1  # (in the task sets until it is freed)
        elif not isinstance(obj, threading.Thread) or obj.is_alive():
            return False  # still running, or a trio task (not known here)
    return now is not None and now <= since.registered + finished_tasks


def _attributable(origin: Origin | None, owner: Owner | None, exact: bool) -> bool:
    """Is a straggler with this origin the business of *owner*'s check?

    With no owner (plain library use) everything counts. A test answers for
    what it started and for what has no known owner; a fixture check
    (*exact*) answers only for what the fixture started.
    """
    if owner is None:
        return True
    started_by = origin.owner if origin is not None else None
    if exact:
        return started_by == owner
    return started_by is None or started_by == owner


@dataclass
class Scan:
    """Stragglers found by one look: the live ones and the already-dead reaped."""

    leaks: list[Leak]
    can_progress: bool  # would waiting help? (a thread, or a task on a running loop)


def _exemption(leak: Leak, options: Options) -> str | None:
    reason = infrastructure_reason(leak.kind, leak.name, leak.target, leak.stack)
    if reason is not None:
        return reason
    if leak.parked_in is not None and not options.strict_pools:
        return f"idle worker parked in its {leak.parked_in}"
    if not options.ignore:
        return None
    origin_functions = functions(leak.origin.stack) if leak.origin and leak.origin.stack else []
    stack_functions = functions(leak.stack)
    for rule in options.ignore:
        if rule.matches(leak.name, leak.target, stack_functions, origin_functions):
            return f"ignored by pattern {rule.field + ':' if rule.field else ''}{rule.pattern}"
    return None


def scan(
    since: Snapshot | None,
    options: Options,
    owner: Owner | None = None,
    include_reaped: bool = True,
) -> Scan:
    """Everything alive now that was not in *since* and is *owner*'s business.

    ``since=None`` means "everything *owner* started", the check made when a
    higher-scoped fixture is finalized.
    """
    exact = since is None
    frames = thread_frames()
    marks = _marks()
    if since is not None and _unchanged(since, frames, options.check_native, marks):
        if since is _LAST[0]:
            _moved_on(since, marks)  # the next snapshot starts from here
        return Scan([], False)
    origins_t = PROVENANCE.thread_origins
    origins_k = PROVENANCE.task_origins
    native = options.check_native and since is not None and since.native_tids is not None
    count = os_thread_count() if native else None
    threads = threading.enumerate()
    found: list[Leak] = []

    current = threading.current_thread()
    new_threads: list[tuple[threading.Thread, Origin | None]] = []
    for t in threads:
        if t is current or not t.is_alive():
            continue
        if since is not None and since.had_thread(t):
            # An old pool worker on a new job: the job, not the thread, is
            # new, so its start site (another test's) says nothing here.
            if since.pool_jobs and _new_work(t, since, frames):
                new_threads.append((t, None))
        elif _attributable(origins_t.get(t), owner, exact):
            new_threads.append((t, origins_t.get(t)))
    if new_threads:
        found.extend(describe_thread(t, origin, frames) for t, origin in new_threads)

    me = _current_task()
    pending = list(LOOPS.pending_tasks())
    for task in pending:
        if task is me or (since is not None and since.had_task(task)):
            continue
        origin = origins_k.get(task) or _loop_thread_origin(task)
        if not _attributable(origin, owner, exact):
            continue
        found.append(describe_task(task, origin))

    for task in _trio.live_tasks():
        origin = _trio.origin(task)
        if (since is None or not since.had_task(task)) and _attributable(origin, owner, exact):
            found.append(_trio.describe(task, origin))

    if include_reaped and (since is None or LEDGER.reap_seq != since.reap_seq):
        found.extend(_reaped(since, owner, exact))

    if since is not None:
        found.extend(_unlisted_threads(since, options, threads, frames, count))

    if not found:
        if me is None and since is not None and not _trio.running():
            # What this look listed is what a snapshot now would hold.
            _remember(marks, threads, frames, pending, count)
        return Scan([], False)  # the common case, said without more work
    leaks = [leak for leak in found if _exemption(leak, options) is None]
    can_progress = any(
        leak.kind in ("thread", "python thread", "native thread")
        or (leak.kind == "task" and leak.note is None)
        for leak in leaks
    )
    return Scan(leaks, can_progress)


def _loop_thread_origin(task: Any) -> Origin | None:
    """A task we did not see created belongs to whoever owns its loop's thread.

    (Tasks built by ``asyncio.Task(...)`` directly, or by a loop we do not
    patch, have no recorded origin; their loop's thread usually does.) A loop
    thread that no test or fixture owns is background work: not a test's.
    """
    thread_id = getattr(task.get_loop(), "_thread_id", None)
    if thread_id is None or thread_id == threading.main_thread().ident:
        return None
    for thread in threading.enumerate():
        if thread.ident == thread_id:
            parent = PROVENANCE.thread_origins.get(thread)
            owner = parent.owner if parent is not None else None
            phase = parent.phase if parent is not None else None
            return Origin(None, phase, owner or BACKGROUND, thread.name)
    return None


def _current_task() -> Any:
    """The asyncio task calling us (a mid-test check is not its own leak)."""
    loop = asyncio._get_running_loop()  # no loop: no task, and no exception to pay for
    return None if loop is None else asyncio.current_task(loop)


def _reaped(since: Snapshot | None, owner: Owner | None, exact: bool) -> Iterable[Leak]:
    for reaped in LEDGER.reaped_since(since.reap_seq if since is not None else 0):
        if not _attributable(reaped.origin, owner, exact):
            continue
        task = reaped.task_ref() if reaped.task_ref is not None else None
        if since is not None and task is not None and since.had_task(task):
            continue  # pending before the check began: not this check's leak
        yield describe_reaped(reaped)


#: How long an exiting thread may linger after Python forgot it (summed sleeps).
_SETTLE = 0.05


def _unlisted_now(
    since: Snapshot,
    check_native: bool,
    threads: list[threading.Thread],
    frames: dict[int, Any],
    count: int | None = READ_NOW,
) -> tuple[list[int], list[int]]:
    listed = {t.ident for t in threads}
    unmanaged = [i for i in frames if i not in listed and i not in since.python_idents]
    native: list[int] = []
    # Every OS thread accounted for by a Python thread (the common case): no
    # thread can be new in /proc without being new in ``threading`` too.
    if (
        check_native
        and since.native_tids is not None
        and not only_python_threads(frames, threads, count)
    ):
        now = native_thread_ids()
        if now is not None:
            known = {t.native_id for t in threads}
            native = sorted(now - since.native_tids - known)
    return unmanaged, native


def _unlisted_threads(
    since: Snapshot,
    options: Options,
    threads: list[threading.Thread],
    frames: dict[int, Any],
    count: int | None = READ_NOW,
) -> list[Leak]:
    """Threads ``threading.enumerate()`` does not list: ``_thread`` and C threads.

    A finishing ``threading.Thread`` leaves ``threading.enumerate()`` a moment
    before its OS thread (and its interpreter state) is gone, so what shows up
    here gets a short settle time of its own, even when the caller asked for
    no grace: a thread that is exiting is not a leak.
    """
    unmanaged, native = _unlisted_now(since, options.check_native, threads, frames, count)
    if not unmanaged and not native:
        return []  # the common case: no schedule, no second look
    for delay in backoff(_SETTLE):
        time.sleep(delay)
        frames = thread_frames()
        unmanaged, native = _unlisted_now(
            since, options.check_native, threading.enumerate(), frames
        )
        if not unmanaged and not native:
            break
    frames = thread_frames()
    leaks = [describe_unmanaged_thread(ident, frames) for ident in unmanaged if ident in frames]
    # A _thread thread is new in /proc too, and we cannot map its ident to its
    # OS id: let each unmanaged Python thread account for one unnamed OS
    # thread, and report only the excess as native.
    excess = len(native) - len(leaks)
    if excess > 0:
        main_name = native_name(os.getpid())
        named = sorted(native, key=lambda tid: native_name(tid) == main_name)
        leaks.extend(describe_native_thread(tid, native_name(tid)) for tid in named[:excess])
    return leaks
