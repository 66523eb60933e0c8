"""Stacks: captured cheaply, walked down await chains, and printed for people.

A captured stack is a tuple of :class:`FrameRecord` (no source lines, no
frame objects kept alive): capture happens on every ``Thread.start()`` and
task creation while checking is on, so it must cost a frame walk and nothing
more. Source lines are looked up only when a report is printed.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import linecache
import os
import sys
from _thread import get_ident
from collections.abc import Iterable, Sequence
from types import CodeType, FrameType
from typing import Any, NamedTuple

__all__ = [
    "FrameRecord",
    "Sites",
    "await_chain",
    "capture_sites",
    "capture_stack",
    "enter_run",
    "exit_run",
    "format_stack",
    "frame_stack",
    "set_run_wrapper_codes",
    "set_trio_codes",
    "thread_frames",
    "waiting_on",
]

#: How many frames a captured creation site keeps (innermost ones win).
CAPTURE_LIMIT = 64


def thread_frames() -> dict[int, FrameType | None]:
    """Each thread's current frame (``sys._current_frames()``), the caller's own as None.

    The calling thread's entry is the caller's own frame, and the caller keeps
    the dict in a local: a reference cycle on every call, freed only by the
    garbage collector (per test, seven frames and their locals: a gen-0
    collection every ~30 tests). A check never looks at its own thread's stack.
    """
    frames: dict[int, FrameType | None] = sys._current_frames()  # type: ignore[assignment]
    frames[get_ident()] = None
    return frames


class FrameRecord(NamedTuple):
    """One frame of a stack: enough to print it and to match ignore rules."""

    filename: str
    lineno: int
    module: str
    qualname: str

    @property
    def function(self) -> str:
        """``module.qualname``, the name ignore rules match against."""
        return f"{self.module}.{self.qualname}" if self.module else self.qualname


def _qualname_310(frame: FrameType) -> str:
    """Python 3.10 has no ``co_qualname``: find the method's class via self/cls."""
    code = frame.f_code
    if not code.co_argcount or code.co_varnames[0] not in ("self", "cls"):
        return code.co_name
    try:
        obj = frame.f_locals.get(code.co_varnames[0])
    except Exception:  # a frame in a strange state: the bare name will do
        return code.co_name
    cls = obj if isinstance(obj, type) else type(obj)
    return _method_qualname(getattr(cls, "__mro__", ()), code)


def _method_qualname(classes: Iterable[object], code: CodeType) -> str:
    """``Class.name`` for the first of *classes* whose method runs *code*, else the bare name."""
    for klass in classes:
        if not isinstance(klass, type):
            continue
        func = klass.__dict__.get(code.co_name)
        func = getattr(func, "__func__", func)  # classmethod / staticmethod
        if getattr(func, "__code__", None) is code:
            return f"{klass.__qualname__}.{code.co_name}"
    return code.co_name


def _record(frame: FrameType) -> FrameRecord:
    code = frame.f_code
    qualname: str = getattr(code, "co_qualname", None) or _qualname_310(frame)
    module = frame.f_globals.get("__name__", "")
    lineno = frame.f_lineno
    return FrameRecord(
        code.co_filename,
        lineno if lineno is not None else code.co_firstlineno,
        module if isinstance(module, str) else "",
        qualname,
    )


#: Records already built, by (id of code, instruction offset, module name)
#: -> (code, record). Captures share most of their frames (the test runner's,
#: the library's), so a capture mostly re-uses records, and keying on the
#: instruction offset (a field) rather than the line (decoded from the line
#: table on every access) makes a cache hit cheap. The entry holds its code
#: object, so the id in its key cannot be reused while the entry exists.
#: Bounded: cleared when it reaches _RECORDS_MAX.
_RECORDS: dict[tuple[int, int, object], tuple[Any, FrameRecord]] = {}
_RECORDS_MAX = 50_000


def _runner_entry_code() -> object:
    """The code object where a test runner hands over to the code it runs.

    Everything outside pluggy's hook call loop is the runner's own machinery
    (reports hide it anyway), so a capture stops there: under pytest that is
    most of a stack, ~40 of ~50 frames.
    """
    for module in ("pluggy._callers", "pluggy._execution"):
        try:
            multicall = getattr(importlib.import_module(module), "_multicall", None)
        except ImportError:
            continue
        code = getattr(multicall, "__code__", None)
        if code is not None:
            return code
    return None  # not under pluggy: walk up to the limit


_UNSET = object()
_RUNNER_ENTRY: object = _UNSET


def frame_stack(
    frame: FrameType | None, limit: int = CAPTURE_LIMIT, stop_at_runner: bool = False
) -> tuple[FrameRecord, ...]:
    """The stack ending at *frame*, outermost first (traceback order).

    *stop_at_runner*: end at the innermost test-runner entry frame (kept, so
    a report can still say that runner frames were left out).
    """
    stop = _runner_entry() if stop_at_runner else None
    records: list[FrameRecord] = []
    append, cached = records.append, _RECORDS.get
    try:
        while frame is not None and len(records) < limit:
            code = frame.f_code
            key = (id(code), frame.f_lasti, frame.f_globals.get("__name__"))
            entry = cached(key)
            if entry is None:
                if len(_RECORDS) >= _RECORDS_MAX:
                    _RECORDS.clear()
                entry = _RECORDS[key] = (code, _record(frame))
            append(entry[1])
            if code is stop:  # identity: hashing a code object is not cheap
                break
            frame = frame.f_back
    except TypeError:  # an unhashable module name: build the rest uncached
        while frame is not None and len(records) < limit:
            append(_record(frame))
            if frame.f_code is stop:
                break
            frame = frame.f_back
    records.reverse()
    return tuple(records)


class Sites(tuple):  # type: ignore[type-arg]
    """Where something was started, as captured: code objects and offsets.

    Capture runs on every task and thread start, so it keeps only what the
    walk reads anyway: per frame its code object and instruction offset.
    Module, file, line and :class:`FrameRecord` are worked out when a report
    asks (:meth:`records`), once. Code objects are kept, frames never: a
    frame would keep its locals alive.

    A pair (leaf, tail), built in C by :func:`new_sites` (a Python
    constructor would be a call per start): *leaf* is the part walked for
    this start, innermost first, flat (code, offset, code, offset, ...);
    *tail* the frames above the event-loop run it happened in, shared with
    every other start of that run (see :func:`capture_stack`).
    """

    @functools.cached_property
    def _records(self) -> tuple[FrameRecord, ...]:
        raw = self[0] + self[1]
        built = [
            _site_record(code, offset) for code, offset in zip(raw[0::2], raw[1::2], strict=True)
        ]
        built.reverse()
        return tuple(built[-CAPTURE_LIMIT:])

    def records(self) -> tuple[FrameRecord, ...]:
        """The stack, outermost first (traceback order), up to CAPTURE_LIMIT frames."""
        return self._records

    def without_leaf(self, prefix: str) -> Sites:
        """These sites minus their innermost frames of modules under *prefix*
        (a library's own spawn machinery is not where a task was started)."""
        raw = self[0] + self[1]
        start = 0
        while start < len(raw) and _module_of(raw[start]).startswith(prefix):
            start += 2
        return new_sites((raw[start:], ()))

    def __repr__(self) -> str:
        return f"Sites({(len(self[0]) + len(self[1])) // 2} frames)"


#: ``Sites`` from a (leaf, tail) pair, built in C.
new_sites = functools.partial(tuple.__new__, Sites)


def _lineno(code: CodeType, offset: int) -> int:
    """The line of the instruction at byte *offset* of *code*, as ``frame.f_lineno`` gives it."""
    if offset >= 0:
        for start, end, line in code.co_lines():
            if start <= offset < end:
                return line if line is not None else code.co_firstlineno
    return code.co_firstlineno


class _ModuleNames:
    """Module name by source file, from ``sys.modules``: a capture keeps no globals.

    Rebuilt when a file is asked for that is not known and modules were
    imported since the last build; a file no module was loaded from (code
    run by ``exec``) has no module name, as a frame's ``__name__`` would
    rarely tell more there.
    """

    def __init__(self) -> None:
        self._by_file: dict[str, str] = {}
        self._built_at = -1

    def of(self, filename: str) -> str:
        name = self._by_file.get(filename)
        if name is None and len(sys.modules) != self._built_at:
            self._rebuild()
            name = self._by_file.get(filename)
        return name or ""

    def _rebuild(self) -> None:
        modules = list(sys.modules.items())
        by_file: dict[str, str] = {}
        for key, module in modules:
            filename = getattr(module, "__file__", None)
            if isinstance(filename, str):
                name = getattr(module, "__name__", key)
                by_file.setdefault(filename, name if isinstance(name, str) else key)
        self._by_file, self._built_at = by_file, len(modules)


_MODULES = _ModuleNames()


def _module_of(code: CodeType) -> str:
    return _MODULES.of(code.co_filename)


def _qualname_of(code: CodeType, module: str) -> str:
    """``co_qualname``; on 3.10, which lacks it, a method found in its module's classes."""
    qualname: str | None = getattr(code, "co_qualname", None)
    if qualname:
        return qualname
    namespace = getattr(sys.modules.get(module), "__dict__", {})
    return _method_qualname(list(namespace.values()), code)


def _site_record(code: CodeType, offset: int) -> FrameRecord:
    module = _module_of(code)
    return FrameRecord(code.co_filename, _lineno(code, offset), module, _qualname_of(code, module))


#: An event-loop run going on in a thread: [its wrapper's frame (None once
#: it ended), the run it is nested in, its tail (None until walked)]. The
#: frame is the instrumentation's own and executing, so holding it until the
#: run ends changes nothing; the tail (the frames above it, up to the test
#: runner's entry) is walked at the run's first capture. A run inside another
#: (``run_forever`` inside ``run_until_complete``) walks up to the outer one's
#: frame and shares its tail. A list, not a class: two are made per
#: ``run_until_complete``, and a list costs half as much to make.
_Run = list[Any]
_FRAME, _OUTER, _TAIL = 0, 1, 2

#: The run each thread is in, by thread ident (see :func:`enter_run`).
_RUNS: dict[int, _Run] = {}

#: The code where a walk up from a task step reaches the loop's own frames:
#: asyncio's ``Handle._run`` (a task's step is C, so its caller is this).
_HANDLE_RUN: CodeType = asyncio.events.Handle._run.__code__

#: The code of the instrumented ``run_forever`` and ``run_until_complete``
#: wrappers (one code object each for every loop class they wrap): where a
#: walk up from a task of a loop with compiled handles (uvloop), or from the
#: main task a ``run_until_complete`` starts, reaches the run's frames.
_RUN_CODES: list[CodeType | None] = [None, None]


def set_run_wrapper_codes(run_forever: CodeType, run_until_complete: CodeType) -> None:
    """Name the wrappers that call :func:`enter_run`."""
    _RUN_CODES[:] = [run_forever, run_until_complete]


#: trio's run loop (``unrolled_run``) and ``trio.run``, its one caller that
#: stays put for the whole run: a walk up from a trio task reaches the loop,
#: and above it either ``trio.run`` (walked on: where the run was started) or
#: a guest run's host, whose frames are whatever drives the current tick
#: (the host loop's, a test runner's), not where anything was started.
_TRIO_CODES: list[CodeType | None] = [None, None]


def set_trio_codes(run_loop: CodeType, run: CodeType) -> None:
    """Name trio's run loop and ``trio.run`` (see :data:`_TRIO_CODES`)."""
    _TRIO_CODES[:] = [run_loop, run]


def enter_run(frame: FrameType) -> _Run | None:
    """An event loop starts running in this thread, in *frame* (a wrapper
    named by :func:`set_run_wrapper_codes`); returns what to restore."""
    ident = get_ident()
    previous = _RUNS.get(ident)
    _RUNS[ident] = [frame, previous, None]
    return previous


def exit_run(previous: _Run | None) -> None:
    """The run :func:`enter_run` announced ended: forget its frame."""
    ident = get_ident()
    run = _RUNS.pop(ident, None)
    if run is not None:
        run[_FRAME] = None
    if previous is not None:
        _RUNS[ident] = previous


def _runner_entry() -> object:
    global _RUNNER_ENTRY
    if _RUNNER_ENTRY is _UNSET:
        _RUNNER_ENTRY = _runner_entry_code()
    return _RUNNER_ENTRY


def _run_tail(run: _Run) -> tuple[Any, ...]:
    """Walk the frames above *run* (at its first capture), up to the runner's
    entry, or to the run it is nested in, whose tail follows."""
    stop = _runner_entry()
    outer = run[_OUTER]
    outer_frame = outer[_FRAME] if outer is not None else None
    out: list[Any] = []
    frame = run[_FRAME].f_back if run[_FRAME] is not None else None
    while frame is not None and len(out) < 2 * CAPTURE_LIMIT:
        code = frame.f_code
        out.append(code)
        out.append(frame.f_lasti)
        if outer is not None and frame is outer_frame:
            out.extend(_run_tail(outer) if outer[_TAIL] is None else outer[_TAIL])
            break
        if code is stop:
            break
        frame = frame.f_back
    tail = run[_TAIL] = tuple(out[: 2 * CAPTURE_LIMIT])
    return tail


#: A capture as taken: (leaf, tail), a plain tuple (a ``Sites`` costs more to
#: make, and most captures are never read).
RawSites = tuple[tuple[Any, ...], tuple[Any, ...]]


def capture_sites(skip: int = 0, limit: int = CAPTURE_LIMIT) -> RawSites:
    """The caller's stack, minus *skip* frames of instrumentation, up to the
    test runner's entry: where a thread or task was started, for a person.

    Runs on every start, so it reads each frame's code and offset and
    nothing else, and inside an event-loop run it stops where the loop's
    own frames begin (asyncio's plumbing, which reports fold anyway): the
    frames above the run are the run's tail, walked once per run and shared
    by every start in it. ``Sites(raw)`` reads it.
    """
    stop = _RUNNER_ENTRY if _RUNNER_ENTRY is not _UNSET else _runner_entry()
    handle_run, (run_code, entry_code) = _HANDLE_RUN, _RUN_CODES
    trio_loop, trio_run = _TRIO_CODES
    frame: FrameType | None = sys._getframe(skip + 1)
    out: list[Any] = []
    append = out.append
    while frame is not None:
        code = frame.f_code
        if code is handle_run or code is run_code or code is entry_code:
            run = _RUNS.get(get_ident())
            if run is not None and (code is handle_run or run[_FRAME] is frame):
                if code is not handle_run:  # the wrapper's own frame: above the loop's
                    append(code)
                    append(frame.f_lasti)
                tail = run[_TAIL]
                return (tuple(out), _run_tail(run) if tail is None else tail)
        elif code is trio_loop:
            back = frame.f_back
            if back is None or back.f_code is not trio_run:  # a guest run: its host's frames
                return (tuple(out), ())
        append(code)
        append(frame.f_lasti)
        if code is stop or len(out) >= 2 * limit:
            break
        frame = frame.f_back
    return (tuple(out), ())


def capture_stack(skip: int = 0, limit: int = CAPTURE_LIMIT) -> Sites:
    """:func:`capture_sites`, ready to read."""
    return new_sites(capture_sites(skip + 1, limit))


def _next_awaitable(obj: Any) -> Any:
    for attr in ("cr_await", "gi_yieldfrom", "ag_await"):
        nxt = getattr(obj, attr, None)
        if nxt is not None:
            return nxt
    return None


def await_chain(coro: Any, limit: int = CAPTURE_LIMIT) -> tuple[FrameRecord, ...]:
    """Where a suspended coroutine is stuck: every frame down its await chain.

    ``Task.get_stack()`` shows only the outermost coroutine's frame; following
    ``cr_await`` down is what reveals the line of the blocking
    ``await send(...)`` deep inside a library.
    """
    records: list[FrameRecord] = []
    obj = coro
    seen: set[int] = set()
    while obj is not None and id(obj) not in seen and len(records) < limit:
        seen.add(id(obj))
        frame = None
        for attr in ("cr_frame", "gi_frame", "ag_frame"):
            frame = getattr(obj, attr, None)
            if frame is not None:
                break
        if frame is not None:
            records.append(_record(frame))
        obj = _next_awaitable(obj)
    return tuple(records)


def waiting_on(task: Any) -> str | None:
    """What a pending asyncio task is blocked on, as its repr (if it says)."""
    fut = getattr(task, "_fut_waiter", None)
    if fut is None:
        return None
    return safe_repr(fut)


def safe_repr(obj: object, limit: int = 200) -> str:
    """``repr()`` that never raises and never floods a report."""
    try:
        text = repr(obj)
    except Exception as exc:  # a hostile __repr__ must not break the report
        text = f"<{type(obj).__name__} object; repr() raised {type(exc).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _display_path(filename: str, cwd: str) -> str:
    if filename.startswith(cwd + os.sep):
        return filename[len(cwd) + 1 :]
    return filename


#: Frames of the test runner itself: hidden from creation sites, counted.
_RUNNER_MODULE_PREFIXES = ("_pytest.", "pluggy.", "pytest_leakcheck.")

_OWN_MODULE = "pytest_leakcheck."

#: Library plumbing folded into one line when several frames of it are in a row.
_PLUMBING_PREFIXES = ("asyncio.", "threading", "concurrent.futures.", "selectors")


def _is_runner_frame(record: FrameRecord) -> bool:
    if record.module.startswith(_RUNNER_MODULE_PREFIXES) or record.module in ("pytest", "runpy"):
        return True
    return record.module == "__main__" and "pytest" in record.filename


def _is_plumbing(record: FrameRecord) -> bool:
    return record.module.startswith(_PLUMBING_PREFIXES)


def format_stack(
    records: Sequence[FrameRecord], indent: str = "    ", hide_runner: bool = True
) -> list[str]:
    """Traceback-style lines, with the noise folded into counted one-liners.

    Leading pytest/pluggy frames, and runs of three or more asyncio/threading
    plumbing frames between the interesting ones, are each shown as one line.
    The innermost frame is always shown: it is where the thing is stuck. Our
    own wrappers (around ``create_task``, ``run_until_complete``, ...) are
    never shown: they are not where anything was started.
    """
    cwd = os.getcwd()
    records = [r for r in records if not r.module.startswith(_OWN_MODULE)] or list(records)
    start = 0
    if hide_runner:
        while start < len(records) and _is_runner_frame(records[start]):
            start += 1
        if start == len(records):  # nothing but runner frames: show them all
            start = 0
    lines: list[str] = []
    if start:
        # No count: a capture stops at the runner's entry, so the frames it
        # kept are not all the runner's frames there were.
        lines.append(f"{indent}(test-runner frames hidden)")
    shown = records[start:]
    index = 0
    while index < len(shown):
        end = index
        while end < len(shown) - 1 and _is_plumbing(shown[end]):
            end += 1
        if end - index >= 3:
            package = shown[index].module.split(".")[0]
            lines.append(f"{indent}({end - index} frames inside {package})")
            index = end
            continue
        rec = shown[index]
        lines.append(
            f'{indent}File "{_display_path(rec.filename, cwd)}", line {rec.lineno}, '
            f"in {rec.qualname}"
        )
        source = linecache.getline(rec.filename, rec.lineno).strip()
        if source:
            lines.append(f"{indent}  {source}")
        index += 1
    return lines


def functions(records: Iterable[FrameRecord]) -> list[str]:
    """Every frame's ``module.qualname``, for ignore-rule matching."""
    return [rec.function for rec in records]
