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
import threading
import weakref
from collections.abc import Iterable, Sequence
from types import CodeType, FrameType, MethodType
from typing import Any, NamedTuple

__all__ = [
    "FrameRecord",
    "Sites",
    "await_chain",
    "capture_stack",
    "format_stack",
    "frame_stack",
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
    frames[threading.get_ident()] = None
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
    for klass in getattr(cls, "__mro__", ()):
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
    global _RUNNER_ENTRY
    stop = None
    if stop_at_runner:
        if _RUNNER_ENTRY is _UNSET:
            _RUNNER_ENTRY = _runner_entry_code()
        stop = _RUNNER_ENTRY
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
    walk reads anyway: per frame a shared ``(code, module, qualname)`` entry
    and the instruction offset. File, line and :class:`FrameRecord` are
    built when a report asks (:meth:`records`), once. Code objects are kept,
    frames never: a frame would keep its locals alive.

    A pair (leaf, tail), built in C by :func:`new_sites` (a Python
    constructor would be a call per start): *leaf* is the part walked for
    this start, innermost first, flat (entry, offset, entry, offset, ...);
    *tail* the outer part shared with the other starts of the same event
    loop run (see :func:`capture_stack`).
    """

    @functools.cached_property
    def _records(self) -> tuple[FrameRecord, ...]:
        raw = self[0] + self[1]
        built = [
            FrameRecord(entry[0].co_filename, _lineno(entry[0], offset), entry[1], entry[2])
            for entry, offset in zip(raw[0::2], raw[1::2], strict=True)
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
        while start < len(raw) and raw[start][1].startswith(prefix):
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


#: (code, module, qualname) by id of code: what a frame's capture shares with
#: every other capture through the same function. The entry holds its code
#: object, so the id in its key cannot be reused while the entry exists; a
#: capture holds the entries it used, so clearing the table loses nothing.
_CODES: dict[int, tuple[CodeType, str, str]] = {}
_CODES_MAX = 20_000


def _code_entry(frame: FrameType) -> tuple[CodeType, str, str]:
    code = frame.f_code
    module = frame.f_globals.get("__name__", "")
    qualname: str = getattr(code, "co_qualname", None) or _qualname_310(frame)
    entry = (code, module if isinstance(module, str) else "", qualname)
    if len(_CODES) >= _CODES_MAX:
        _CODES.clear()
    _CODES[id(code)] = entry
    return entry


#: The code of asyncio's own ``run_forever``: the frame where a walk up from a
#: task reaches the frames that run the loop (see :func:`capture_stack`).
_RUN_FOREVER = asyncio.BaseEventLoop.run_forever.__code__

#: The outer part of a capture (from ``run_forever`` up to the runner's
#: entry) by id of the asyncgen ``firstiter`` hook that run installed:
#: (weak reference to that hook, run_forever's offset, the part). Bounded.
_RUN_TAILS: dict[int, tuple[weakref.ref[Any], int, tuple[Any, ...]]] = {}
_RUN_TAILS_MAX = 64


def _run_token() -> Any:
    """What identifies the event-loop run going on in this thread, or None.

    ``run_forever`` installs its loop's asyncgen hooks for the duration of
    the run, as bound methods made afresh at each run, and puts the previous
    ones back at its end. While that method object is the installed hook the
    same ``run_forever`` call is running (a weak reference to it dies with
    the run), so the frames from that call up are the same ones as at the
    last capture in this run, at the same offsets: they are suspended there.
    """
    hook = sys.get_asyncgen_hooks().firstiter
    if type(hook) is MethodType and hook.__self__ is asyncio.events._get_running_loop():
        return hook
    return None


def capture_stack(skip: int = 0, limit: int = CAPTURE_LIMIT) -> Sites:
    """The caller's stack, minus *skip* frames of instrumentation, up to the
    test runner's entry: where a thread or task was started, for a person.

    Runs on every start, so it reads each frame's code and offset and
    nothing else; a start inside a running asyncio loop stops at that run's
    ``run_forever`` frame and shares the frames above it with every other
    start of the same run (they cannot have changed while it runs).
    """
    global _RUNNER_ENTRY
    if _RUNNER_ENTRY is _UNSET:
        _RUNNER_ENTRY = _runner_entry_code()
    stop = _RUNNER_ENTRY
    frame: FrameType | None = sys._getframe(skip + 1)
    out: list[Any] = []
    append, codes = out.append, _CODES.get
    mark = -1  # where the frames of a loop run begin in out, to share them
    token = None
    while frame is not None:
        code = frame.f_code
        if code is _RUN_FOREVER and mark < 0:
            token = _run_token()
            if token is not None:
                shared = _RUN_TAILS.get(id(token))
                if shared is not None and shared[0]() is token and shared[1] == frame.f_lasti:
                    return new_sites((tuple(out), shared[2]))
                mark = len(out)
        entry = codes(id(code))
        if entry is None or entry[0] is not code:
            entry = _code_entry(frame)
        append(entry)
        append(frame.f_lasti)
        if code is stop or len(out) >= 2 * limit:
            break
        frame = frame.f_back
    if mark >= 0 and (frame is None or frame.f_code is stop):  # complete: worth sharing
        if len(_RUN_TAILS) >= _RUN_TAILS_MAX:
            _RUN_TAILS.clear()
        tail = tuple(out[mark:])
        _RUN_TAILS[id(token)] = (weakref.ref(token), out[mark + 1], tail)
        return new_sites((tuple(out[:mark]), tail))
    return new_sites((tuple(out), ()))


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
