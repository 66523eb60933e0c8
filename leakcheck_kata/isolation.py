"""Run each criterion in its own process, one per CPU at a time, under hard limits.

A submission can hang, leave non-daemon threads, call ``os._exit``, crash the
interpreter, eat memory or fork in a loop; in its own process that costs one
criterion, with a clear reason, and the others still run. The worker reports
through a JSON file rather than stdout, which the submission is free to print
on. Each worker gets its own session (so a kill at the limit also takes down
anything it spawned, and its threads and processes can be counted), its own
resource caps (:mod:`.limits`), and its own temporary working directory holding
a copy of the submission file, removed when it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import limits
from .limits import Caps
from .loader import check_file, split_target
from .model import Criterion, SubmissionError, Verdict

LOAD_LIMIT = 30.0
"""Seconds allowed for importing and validating the submission (unless --timeout is less)."""
KILL_GRACE = 3.0
"""The worker's own watchdog fires at the limit; the parent kills this much later."""
POLL = 0.01
TASKS_POLL = 0.25
"""Seconds between two counts of every worker's threads and processes (one /proc scan)."""
WORKER_ENV = {"MALLOC_ARENA_MAX": "2"}
"""glibc reserves 64 MiB of address space per thread arena (up to 8 per CPU), which the
memory cap would count although it is never used: two arenas keep threads cheap."""


def default_jobs() -> int:
    """Criterion processes at once: the CPUs this process may run on."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counter is not None:
        return int(counter() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Request:
    """Grade *criteria* of *target* on *backend*; *limit* overrides each hard limit."""

    target: str | None
    criteria: tuple[Criterion, ...]
    backend: str = "asyncio"
    limit: float | None = None
    caps: Caps = field(default_factory=Caps)


@dataclass(frozen=True)
class _Placement:
    """Where a request's submission comes from, and how a worker finds its copy."""

    source: Path | None  # the file to copy into each working directory; None: a module
    given: str  # the file as the user named it, for messages
    suffix: str  # ":Name" if the user named the class
    sys_path: tuple[str, ...]

    def target(self, workdir: Path, spec: str | None) -> str | None:
        """The worker's --target: the copy in *workdir*, or the module as given."""
        if self.source is None:
            return spec
        return str(workdir / self.source.name) + self.suffix

    def unmap(self, text: str, workdir: Path) -> str:
        """Messages name the user's file, not the copy it was graded from."""
        if self.source is None:
            return text
        return text.replace(str(workdir / self.source.name), self.given)


def _place(target: str | None) -> _Placement:
    """Check a file target up front (missing, a folder) and plan its copies."""
    cwd = os.getcwd()
    if target is None:
        return _Placement(None, "", "", (cwd,))
    where, _attr, is_module = split_target(target)
    path = Path(where)
    plain_folder = path.is_dir() and not (path / "__init__.py").exists()
    if is_module and not plain_folder:
        return _Placement(None, "", "", (cwd,))
    check_file(path)  # a plain folder is "not a file", not an empty namespace package
    suffix = target[len(where) :]
    return _Placement(path.resolve(), where, suffix, (str(path.resolve().parent), cwd))


@dataclass
class _Job:
    index: int
    criterion: Criterion | None  # None: the load check
    limit: float
    caps: Caps
    placement: _Placement
    workdir: Path
    out: Path
    log: IO[bytes]
    proc: subprocess.Popen[bytes]
    started: float
    killed_for: str = ""
    """Why the parent killed it (a cap it counted), "" if it did not."""

    @property
    def deadline(self) -> float:
        """Seconds after which the parent kills it: a criterion's own watchdog fires at
        its limit and gets a grace to report; the load check has no watchdog."""
        return self.limit + (KILL_GRACE if self.criterion is not None else 0.0)


def _command(
    target: str | None, out: Path, criterion: str | None, request: Request, limit: float
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "leakcheck_kata.worker",
        "--out",
        str(out),
        "--backend",
        request.backend,
        "--limit",
        str(limit),
        *request.caps.to_args(),
        f"--parent={os.getpid()}",
    ]
    if target is not None:
        cmd += ["--target", target]
    if criterion is not None:
        cmd += ["--criterion", criterion]
    return cmd


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _tail(log: IO[bytes], limit: int = 4000) -> str:
    log.flush()
    log.seek(0)
    text = log.read().decode("utf-8", "replace")
    return text[-limit:]


def _read(out: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"process exited with code {code} (killed by {name})"
    return f"process exited with code {code} before reporting (os._exit or sys.exit?)"


Outcome = list[Verdict] | SubmissionError


def run(requests: list[Request], parallel: int | None = None) -> list[Outcome]:
    """Grade every request: first a load check each, then one process per criterion.

    At most *parallel* processes run at once (default: one per CPU), across all
    requests; each request's verdicts come back in its criteria's order, or the
    SubmissionError that stopped it from being graded at all.
    """
    slots = max(1, parallel if parallel is not None else default_jobs())
    verdicts: list[dict[str, Verdict]] = [{} for _ in requests]
    refused: dict[int, SubmissionError] = {}
    placements: dict[int, _Placement] = {}
    for i, request in enumerate(requests):
        try:
            placements[i] = _place(request.target)
        except SubmissionError as exc:
            refused[i] = exc
    with tempfile.TemporaryDirectory(prefix="kata-grader-", ignore_cleanup_errors=True) as tmp:
        pending: list[tuple[int, Criterion | None]] = [(i, None) for i in placements]
        running: list[_Job] = []
        counted = 0.0
        try:
            while pending or running:
                while pending and len(running) < slots:
                    index, criterion = pending.pop(0)
                    with _interrupts_deferred():
                        running.append(
                            _start(index, requests[index], placements[index], criterion, Path(tmp))
                        )
                time.sleep(POLL)
                if time.monotonic() - counted >= TASKS_POLL:
                    counted = time.monotonic()
                    _enforce_tasks(running)
                for job in list(running):
                    if job.proc.poll() is None and not _overdue(job):
                        continue
                    running.remove(job)
                    if job.criterion is None:
                        error = _load_result(job)
                        if error is None:
                            pending += [(job.index, c) for c in requests[job.index].criteria]
                        else:
                            refused[job.index] = error
                    else:
                        verdicts[job.index][job.criterion.id] = _verdict(job)
                    _end(job)
        finally:
            for job in running:
                _kill(job.proc)
                _end(job)
    return [
        refused[i] if i in refused else [verdicts[i][c.id] for c in r.criteria]
        for i, r in enumerate(requests)
    ]


INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while a worker starts, until it is in the running list.

    Raised inside ``Popen()``, the interrupt would lose the pid of a child that
    already exists, and nothing would kill it. The worker inherits the blocked
    mask and unblocks it first thing (:func:`.worker.main`). This holds them in
    this thread only: in a program with other threads, one of those may take the
    signal, and a worker so lost still ends at its own time limit.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _start(
    index: int, request: Request, placement: _Placement, criterion: Criterion | None, tmp: Path
) -> _Job:
    if criterion is None:
        seconds, name = LOAD_LIMIT, "load"
        if request.limit is not None:
            seconds = request.limit
    else:
        seconds = request.limit if request.limit is not None else criterion.time_limit
        name = criterion.id
    workdir = tmp / f"{index}-{name}"
    workdir.mkdir()
    if placement.source is not None:
        shutil.copy2(placement.source, workdir / placement.source.name)
    out = tmp / f"{index}-{name}.json"
    log = open(tmp / f"{index}-{name}.log", "w+b")  # noqa: SIM115 - closed by _end()
    target = placement.target(workdir, request.target)
    cmd = _command(target, out, criterion.id if criterion else None, request, seconds)
    cmd += [f"--sys-path={folder}" for folder in placement.sys_path]
    env = {**os.environ, **WORKER_ENV, "TMPDIR": str(workdir), "TEMP": str(workdir)}
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        cwd=workdir,
        env=env,
    )
    now = time.monotonic()
    return _Job(index, criterion, seconds, request.caps, placement, workdir, out, log, proc, now)


def _end(job: _Job) -> None:
    """Kill what the worker left in its session, close its log, remove its working directory.

    A worker leaves with ``os._exit`` once its verdict is written, but processes
    the submission started live on in its session: they go too. (A pid stays
    reserved while it names a living process group, so this cannot hit a
    stranger.) The whole temporary tree is removed again at the end of the run.
    """
    if hasattr(os, "killpg"):  # POSIX: the session's process group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job.proc.pid, signal.SIGKILL)
    job.log.close()
    shutil.rmtree(job.workdir, ignore_errors=True)


def _enforce_tasks(running: list[_Job]) -> None:
    """Kill every worker whose session holds more threads and processes than its cap.

    The worker refuses new processes itself (and threads on Python 3.13+); this
    is the backstop for threads on older Pythons and for anything not started
    through Python. Linux only: elsewhere the count is unknown and nothing happens.
    """
    counts = limits.tasks_by_session()
    if counts is None:
        return
    for job in running:
        count = counts.get(job.proc.pid, 0)
        if count > job.caps.tasks and job.proc.poll() is None:
            _kill(job.proc)
            job.killed_for = (
                f"{job.caps.tasks_reason()} ({count} threads and processes were running; killed)"
            )


def _overdue(job: _Job) -> bool:
    """Past the hard limit (the worker's own watchdog had its chance): kill it."""
    if time.monotonic() - job.started < job.deadline:
        return False
    _kill(job.proc)
    return True


def _death_reason(job: _Job, output: str) -> str:
    """Why a worker ended without reporting: a cap the parent counted or the kernel
    enforced, the wall-clock limit, or how it exited."""
    code = job.proc.returncode
    if job.killed_for:
        return job.killed_for
    if time.monotonic() - job.started >= job.deadline:
        return f"timed out after {job.limit:.0f} s (killed)"
    xcpu = getattr(signal, "SIGXCPU", None)  # not on Windows
    if xcpu is not None and code == -xcpu:
        return f"{job.caps.cpu_reason()} (killed by SIGXCPU)"
    hit = limits.cap_hit(output, job.caps)
    if hit is not None and code != 0:
        return f"{hit} ({_exit_reason(code)})"
    return _exit_reason(code)


def _load_result(job: _Job) -> SubmissionError | None:
    data = _read(job.out)
    if data is None:
        output = job.placement.unmap(_tail(job.log), job.workdir)
        reason = _death_reason(job, output)
        if reason.startswith("timed out"):
            return SubmissionError(f"loading the submission did not finish within {job.limit:g} s")
        detail = output.strip().splitlines()
        last = f": {detail[-1]}" if detail else ""
        return SubmissionError(f"loading the submission failed: {reason}{last}")
    if not data.get("ok"):
        message = str(data.get("message", "cannot load the submission"))
        return SubmissionError(job.placement.unmap(message, job.workdir))
    return None


def _verdict(job: _Job) -> Verdict:
    assert job.criterion is not None
    elapsed = time.monotonic() - job.started
    data = _read(job.out)
    if data is not None and isinstance(data.get("verdict"), dict):
        verdict = Verdict.from_json(data["verdict"])
        verdict.reason = job.placement.unmap(verdict.reason, job.workdir)
        verdict.evidence = job.placement.unmap(verdict.evidence, job.workdir)
        return verdict
    output = job.placement.unmap(_tail(job.log), job.workdir)
    return Verdict(
        job.criterion.id,
        job.criterion.name,
        False,
        _death_reason(job, output),
        elapsed,
        f"output of the criterion process:\n{output}",
    )
