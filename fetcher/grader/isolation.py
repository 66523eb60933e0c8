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


@dataclass
class _Job:
    criterion: Criterion
    limit: float
    out: Path
    log: IO[bytes]
    proc: subprocess.Popen[bytes]
    started: float


def _command(target: str | None, out: Path, criterion: str | None = None,
             backend: str = "asyncio", limit: float = LOAD_LIMIT) -> list[str]:
    cmd = [sys.executable, "-m", "fetcher.grader.worker", "--out", str(out),
           "--backend", backend, "--limit", str(limit)]
    if target is not None:
        cmd += ["--target", target]
    if criterion is not None:
        cmd += ["--criterion", criterion]
    return cmd


def _spawn(cmd: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)


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


def check_loads(target: str | None) -> None:
    """Import and validate the submission in a throwaway process; raise SubmissionError."""
    with tempfile.TemporaryDirectory(prefix="kata-grader-") as tmp:
        out = Path(tmp) / "load.json"
        with open(Path(tmp) / "load.log", "w+b") as log:
            proc = _spawn(_command(target, out), log)
            try:
                proc.wait(timeout=LOAD_LIMIT)
            except subprocess.TimeoutExpired:
                _kill(proc)
                raise SubmissionError(
                    f"loading the submission did not finish within {LOAD_LIMIT:.0f} s") from None
            data = _read(out)
            if data is None:
                detail = _tail(log).strip().splitlines()
                last = f": {detail[-1]}" if detail else ""
                raise SubmissionError(
                    f"loading the submission failed: {_exit_reason(proc.returncode)}{last}")
    if not data.get("ok"):
        raise SubmissionError(str(data.get("message", "cannot load the submission")))


def run_criteria(target: str | None, criteria: list[Criterion], backend: str,
                 limit: float | None = None, parallel: int = PARALLEL) -> list[Verdict]:
    """Grade every criterion in its own process; verdicts come back in catalogue order."""
    verdicts: dict[str, Verdict] = {}
    with tempfile.TemporaryDirectory(prefix="kata-grader-") as tmp:
        pending = list(criteria)
        running: list[_Job] = []
        try:
            while pending or running:
                while pending and len(running) < max(1, parallel):
                    running.append(_start(target, pending.pop(0), backend, limit, Path(tmp)))
                time.sleep(POLL)
                for job in list(running):
                    verdict = _poll(job)
                    if verdict is not None:
                        running.remove(job)
                        job.log.close()
                        verdicts[job.criterion.id] = verdict
        finally:
            for job in running:
                _kill(job.proc)
                job.log.close()
    return [verdicts[c.id] for c in criteria]


def _start(target: str | None, criterion: Criterion, backend: str, limit: float | None,
           tmp: Path) -> _Job:
    seconds = limit if limit is not None else criterion.time_limit
    out = tmp / f"{criterion.id}.json"
    log = open(tmp / f"{criterion.id}.log", "w+b")  # noqa: SIM115 - closed by the poller
    proc = _spawn(_command(target, out, criterion.id, backend, seconds), log)
    return _Job(criterion, seconds, out, log, proc, time.monotonic())


def _poll(job: _Job) -> Verdict | None:
    """The job's verdict if it is over (killing it at the hard limit), else None."""
    elapsed = time.monotonic() - job.started
    code = job.proc.poll()
    if code is None:
        if elapsed < job.limit + KILL_GRACE:
            return None
        _kill(job.proc)
        return Verdict(job.criterion.id, job.criterion.name, False,
                       f"timed out after {job.limit:.0f} s (killed)", elapsed,
                       f"output of the criterion process:\n{_tail(job.log)}")
    data = _read(job.out)
    if data is not None and isinstance(data.get("verdict"), dict):
        return Verdict.from_json(data["verdict"])
    return Verdict(job.criterion.id, job.criterion.name, False, _exit_reason(code), elapsed,
                   f"output of the criterion process:\n{_tail(job.log)}")
