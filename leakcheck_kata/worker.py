"""The process that grades one criterion (or only checks that a submission loads).

Run as ``python -m leakcheck_kata.worker``. It writes its verdict as JSON to
the ``--out`` file and leaves with ``os._exit``: the submission may have left
non-daemon threads or a half-closed event loop behind, and none of that may
keep this process alive once the verdict is written. A watchdog thread writes
a "timed out" verdict with the stacks of every thread just before the parent's
hard limit, so a hang says where it hangs.

Before anything of the submission is imported, the worker caps itself
(:mod:`.limits`) and installs its audit hook (:mod:`.guard`); every verdict it
writes then says first what was refused or which cap was hit, because that is
the cause of whatever else went wrong.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from . import limits
from .guard import Guard
from .model import SubmissionError, Verdict
from .stalls import HEARTBEAT

EXIT_REPORTED = 0
EXIT_TIMED_OUT = 3
PR_SET_PDEATHSIG = 1
LOAD_BACKSTOP = 5.0
"""Seconds past its limit after which a load check ends itself (the parent kills it at it)."""


def _write(out: Path, payload: dict[str, Any]) -> None:
    limits.relax()  # the submission may have used up its memory or descriptors
    tmp = _tmp(out)
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)


def _tmp(out: Path) -> Path:
    return out.with_suffix(".tmp")


def seal(verdict: Verdict, guard: Guard) -> Verdict:
    """Put the root cause first: a refused action, else a cap the failure shows was hit.

    A refusal fails even a criterion that passed: the answer tried to reach the
    network or write outside its directory. The original reason is kept at the
    top of the evidence.
    """
    refusal = guard.evidence()
    cause = guard.refused[0].reason if guard.refused else None
    if cause is None and not verdict.passed:
        cause = limits.cap_hit(f"{verdict.reason}\n{verdict.evidence}", guard.caps)
    if cause is None:
        return verdict
    if cause != verdict.reason:
        earlier = f"{verdict.label} otherwise: {verdict.reason}"
        verdict.evidence = "\n\n".join(p for p in (earlier, refusal, verdict.evidence) if p)
    verdict.passed, verdict.reason = False, cause
    return verdict


def _all_stacks() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    me = threading.get_ident()
    chunks = []
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        stack = "".join(traceback.format_stack(frame))
        chunks.append(f"thread {names.get(ident, ident)!r}:\n{stack}")
    return "\n".join(chunks)


class _Watchdog:
    """Writes a timeout verdict and exits if the criterion overruns its limit."""

    def __init__(self, out: Path, cid: str, name: str, limit: float, guard: Guard) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._guard = guard
        self._timer = threading.Timer(limit, self._fire, args=(out, cid, name, limit))
        self._timer.daemon = True
        self._timer.name = "kata-grader-watchdog"

    def start(self) -> None:
        self._timer.start()

    def finish(self) -> bool:
        """Claim the right to write the verdict; False if the watchdog already did."""
        with self._lock:
            if self._done:
                return False
            self._done = True
            self._timer.cancel()
            return True

    def _fire(self, out: Path, cid: str, name: str, limit: float) -> None:
        if not self.finish():
            return
        verdict = Verdict(
            cid,
            name,
            False,
            f"timed out after {limit:.0f} s",
            limit,
            "where every thread was at the time limit:\n" + _all_stacks(),
        )
        _write(out, {"verdict": seal(verdict, self._guard).to_json()})
        os._exit(EXIT_TIMED_OUT)


def grade_one(
    target: str | None, cid: str, backend: str, out: Path, limit: float, guard: Guard
) -> None:
    """Grade criterion *cid* in this process, write the verdict, and exit."""
    from . import evidence
    from .catalog import BY_ID

    criterion = BY_ID[cid]
    HEARTBEAT.start()
    evidence.start_recording()
    from .loader import load

    watchdog = _Watchdog(out, cid, criterion.name, limit, guard)
    watchdog.start()
    try:
        submission = load(target)
    except SubmissionError as exc:
        if watchdog.finish():
            verdict = Verdict(cid, criterion.name, False, f"cannot load: {exc}")
            _write(out, {"verdict": seal(verdict, guard).to_json()})
        os._exit(EXIT_REPORTED)

    import anyio

    anyio.run(
        kata_grader_main,
        submission,
        cid,
        criterion.name,
        backend,
        out,
        watchdog,
        guard,
        backend=backend,
    )
    os._exit(EXIT_REPORTED)  # pragma: no cover - kata_grader_main() always exits first


async def kata_grader_main(
    submission: Any,
    cid: str,
    name: str,
    backend: str,
    out: Path,
    watchdog: _Watchdog,
    guard: Guard,
) -> None:
    """The worker's main task (its name lets leak checks leave it out): grade, write, exit."""
    from . import evidence
    from .criteria import RUNNERS, Context, Failed
    from .hangs import Conclusion

    probe = evidence.LeakProbe()
    started = time.perf_counter()

    def conclude(conclusion: Conclusion) -> None:
        """A hang guard's verdict, from its thread: write it with every stack, and leave."""
        verdict = Verdict(
            cid, name, conclusion.passed, conclusion.reason, time.perf_counter() - started
        )
        stacks = "" if conclusion.passed else _all_stacks()
        where = f"where every thread was when the grader gave up:\n{stacks}" if stacks else ""
        verdict.evidence = "\n\n".join(p for p in (conclusion.evidence, where) if p)
        verdict.notes = list(ctx.notes)
        if watchdog.finish():
            _write(out, {"verdict": verdict.to_json()})
        os._exit(EXIT_REPORTED)

    ctx = Context(submission, backend, conclude=conclude)
    try:
        reason = await RUNNERS[cid](ctx)
        verdict = Verdict(cid, name, True, reason)
    except Failed as failure:
        verdict = Verdict(cid, name, False, failure.reason, evidence=failure.evidence)
    except BaseException as exc:  # the submission broke the scenario itself
        limits.relax()  # formatting a MemoryError's traceback needs memory too
        verdict = Verdict(
            cid,
            name,
            False,
            f"{type(exc).__name__} raised: {str(exc)[:150]}",
            evidence="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        )
    verdict.seconds = time.perf_counter() - started
    verdict.notes = ctx.notes
    blockers = probe.exit_blockers(0.5)
    if blockers:
        first = blockers.splitlines()[0].removeprefix("leakcheck: ")
        if verdict.passed:
            verdict.passed = False
            verdict.reason = f"{first}, not daemon: a program using it could not exit"
        verdict.evidence = "\n\n".join(p for p in (verdict.evidence, blockers) if p)
    if watchdog.finish():
        _write(out, {"verdict": seal(verdict, guard).to_json()})
    # Leave now: the loop's teardown would wait on whatever the submission left behind.
    os._exit(EXIT_REPORTED)


def check_loads(target: str | None, out: Path, backend: str, limit: float) -> None:
    """Only load and validate the submission; write ``{"ok": ..., "message": ...}``.

    The parent kills this process at *limit*; a little later it ends itself, in
    case the parent could not (an interrupt that lost its pid): an import that
    hangs must not outlive the grading.
    """
    import anyio

    from .loader import check_manager, load

    backstop = threading.Timer(limit + LOAD_BACKSTOP, os._exit, args=(EXIT_TIMED_OUT,))
    backstop.daemon = True
    backstop.start()
    try:
        anyio.run(check_manager, load(target), backend=backend)
    except SubmissionError as exc:
        _write(out, {"ok": False, "message": str(exc)})
    else:
        _write(out, {"ok": True, "message": ""})
    os._exit(EXIT_REPORTED)


def _die_with_parent(parent: int | None) -> None:
    """Linux: be killed when the grader (pid *parent*) dies, even by SIGKILL, not run on."""
    if not sys.platform.startswith("linux") or parent is None:
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
        return
    if os.getppid() != parent:  # the grader died before prctl took effect: we were orphaned
        os._exit(EXIT_TIMED_OUT)


def _import_the_grader(backend: str) -> None:
    """Import what every criterion needs while bytecode caches may still be written.

    The submission must leave no ``__pycache__`` behind, so caching is off
    before it is imported; the grader's own modules, imported first, still
    read (and on the first run write) theirs, instead of being compiled again
    in each of the many worker processes. Two optional imports of our
    dependencies are skipped, never used here and together half the import
    time: httpcore's of trio on asyncio runs, httpx's of click (for its command
    line). The submission can still import either itself.
    """
    optional = ("click",) if backend == "trio" else ("trio", "click")
    skipped = [name for name in optional if name not in sys.modules]
    for name in skipped:
        sys.modules[name] = None  # type: ignore[assignment]  # import name -> ImportError
    try:
        from . import criteria, evidence, hangs, loader  # noqa: F401
    finally:
        for name in skipped:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the worker process (not a user-facing command)."""
    parser = argparse.ArgumentParser(prog="python -m leakcheck_kata.worker")
    parser.add_argument("--target", default=None)
    parser.add_argument("--criterion", default=None)
    parser.add_argument("--backend", default="asyncio")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--limit", type=float, default=30.0)
    parser.add_argument("--cap", type=limits.Caps.from_arg, default=limits.Caps())
    parser.add_argument("--parent", type=int, default=None, help="the grader's pid")
    parser.add_argument(
        "--sys-path",
        action="append",
        default=[],
        help="importable folders in place of the working directory (the caller's, the "
        "submission's own folder for its siblings)",
    )
    args = parser.parse_args(argv)
    if hasattr(signal, "pthread_sigmask"):  # blocked by the parent while it started us
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))
    _die_with_parent(args.parent)
    limits.apply(args.cap)
    faulthandler.enable()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    _import_the_grader(
        args.backend
    )  # before the submission and the guard: our caches may be written
    sys.dont_write_bytecode = True  # no __pycache__ next to anyone's sources
    if sys.path and os.path.abspath(sys.path[0]) == os.getcwd():
        del sys.path[0]  # the working directory is the grader's, not an import root
    sys.path[0:0] = args.sys_path
    guard = Guard(args.cap, Path.cwd(), (args.out, _tmp(args.out)))
    guard.install()
    if args.criterion is None:
        check_loads(args.target, args.out, args.backend, args.limit)
    else:
        grade_one(args.target, args.criterion, args.backend, args.out, args.limit, guard)


if __name__ == "__main__":
    main()
