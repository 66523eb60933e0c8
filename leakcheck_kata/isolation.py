"""Run each criterion in its own process, two at a time, under a hard time limit.

A submission can hang, leave non-daemon threads, call ``os._exit`` or crash the
interpreter; in its own process that costs one criterion, with a clear reason,
and the others still run. The worker reports through a JSON file rather than
stdout, which the submission is free to print on. Each worker gets its own
process group so a kill at the limit also takes down anything it spawned.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .model import Criterion, SubmissionError, Verdict

PARALLEL = 2
"""Criterion processes at once: the target machine has 2 cores."""
LOAD_LIMIT = 30.0
"""Seconds allowed for importing and validating the submission."""
KILL_GRACE = 3.0
"""The worker's own watchdog fires at the limit; the parent kills this much later."""
POLL = 0.01


@dataclass(frozen=True)
class Request:
    """Grade *criteria* of *target* on *backend*; *limit* overrides each hard limit."""

    target: str | None
    criteria: tuple[Criterion, ...]
    backend: str = "asyncio"
    limit: float | None = None


@dataclass
class _Job:
    index: int
    criterion: Criterion | None  # None: the load check
    limit: float
    out: Path
    log: IO[bytes]
    proc: subprocess.Popen[bytes]
    started: float


def _command(
    target: str | None, out: Path, criterion: str | None, backend: str, limit: float
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "leakcheck_kata.worker",
        "--out",
        str(out),
        "--backend",
        backend,
        "--limit",
        str(limit),
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


def run(requests: list[Request], parallel: int = PARALLEL) -> list[Outcome]:
    """Grade every request: first a load check each, then one process per criterion.

    At most *parallel* processes run at once, across all requests; each
    request's verdicts come back in its criteria's order, or the
    SubmissionError that stopped it from being graded at all.
    """
    verdicts: list[dict[str, Verdict]] = [{} for _ in requests]
    refused: dict[int, SubmissionError] = {}
    with tempfile.TemporaryDirectory(prefix="kata-grader-") as tmp:
        pending: list[tuple[int, Criterion | None]] = [(i, None) for i in range(len(requests))]
        running: list[_Job] = []
        try:
            while pending or running:
                while pending and len(running) < max(1, parallel):
                    index, criterion = pending.pop(0)
                    running.append(_start(index, requests[index], criterion, Path(tmp)))
                time.sleep(POLL)
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
                    job.log.close()
        finally:
            for job in running:
                _kill(job.proc)
                job.log.close()
    return [
        refused[i] if i in refused else [verdicts[i][c.id] for c in r.criteria]
        for i, r in enumerate(requests)
    ]


def _start(index: int, request: Request, criterion: Criterion | None, tmp: Path) -> _Job:
    if criterion is None:
        seconds, name = LOAD_LIMIT, "load"
    else:
        seconds = request.limit if request.limit is not None else criterion.time_limit
        name = criterion.id
    out = tmp / f"{index}-{name}.json"
    log = open(tmp / f"{index}-{name}.log", "w+b")  # noqa: SIM115 - closed by run()
    cmd = _command(
        request.target, out, criterion.id if criterion else None, request.backend, seconds
    )
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
    )
    return _Job(index, criterion, seconds, out, log, proc, time.monotonic())


def _overdue(job: _Job) -> bool:
    """Past the hard limit (the worker's own watchdog had its chance): kill it."""
    if time.monotonic() - job.started < job.limit + KILL_GRACE:
        return False
    _kill(job.proc)
    return True


def _load_result(job: _Job) -> SubmissionError | None:
    data = _read(job.out)
    if data is None:
        if job.proc.returncode == -signal.SIGKILL:
            return SubmissionError(
                f"loading the submission did not finish within {job.limit:.0f} s"
            )
        detail = _tail(job.log).strip().splitlines()
        last = f": {detail[-1]}" if detail else ""
        return SubmissionError(
            f"loading the submission failed: {_exit_reason(job.proc.returncode)}{last}"
        )
    if not data.get("ok"):
        return SubmissionError(str(data.get("message", "cannot load the submission")))
    return None


def _verdict(job: _Job) -> Verdict:
    assert job.criterion is not None
    elapsed = time.monotonic() - job.started
    data = _read(job.out)
    if data is not None and isinstance(data.get("verdict"), dict):
        return Verdict.from_json(data["verdict"])
    evidence = f"output of the criterion process:\n{_tail(job.log)}"
    if elapsed >= job.limit + KILL_GRACE:
        return Verdict(
            job.criterion.id,
            job.criterion.name,
            False,
            f"timed out after {job.limit:.0f} s (killed)",
            elapsed,
            evidence,
        )
    return Verdict(
        job.criterion.id,
        job.criterion.name,
        False,
        _exit_reason(job.proc.returncode),
        elapsed,
        evidence,
    )
