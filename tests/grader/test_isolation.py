"""Hostile submissions: each is graded, for the cap or refusal it runs into, and cleaned up.

Every grading here is one criterion through the real ``leakcheck-kata``
process, with a small cap where the default would only make the test slower
(a 256 MiB memory cap touches 256 MiB, not 1 GiB). The grader runs with its
own TMPDIR, so "no temporary directory is left" is checked exactly, and with
a marker in its environment, which every process it starts inherits: after it
exits, no process carrying the marker may be alive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from leakcheck_kata.limits import tasks_by_session

from .conftest import SUBMISSIONS

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the caps and the /proc count are Linux's"
)
pytestmark = linux_only

MARKER = "KATA_ISOLATION_TEST"
WAIT = 120.0
"""Generous bound on waiting for the grader to start a criterion (a loaded machine)."""


class Grader:
    """``leakcheck-kata`` run from *caller* (its cwd and $PWD) with its own TMPDIR."""

    def __init__(self, tmp_path: Path) -> None:
        self.caller = tmp_path / "caller"
        self.tmp = tmp_path / "tmp"
        self.caller.mkdir()
        self.tmp.mkdir()
        self.mark = uuid.uuid4().hex
        self.env = {
            **os.environ,
            "TMPDIR": str(self.tmp),
            "PWD": str(self.caller),
            MARKER: self.mark,
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "leakcheck_kata.cli", *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            timeout=240,
            cwd=self.caller,
            env=self.env,
        )

    def grade(self, name: str, *args: str) -> dict[str, Any]:
        """Grade ``submissions/<name>.py`` (one criterion): its verdict, checked clean after."""
        before = os.listdir(self.caller)
        done = self.run(str(SUBMISSIONS / f"{name}.py"), "--json", *args)
        assert done.returncode == 1, done.stdout + done.stderr
        (verdict,) = json.loads(done.stdout)["criteria"]
        self.assert_clean(*before)
        return dict(verdict)

    def survivors(self) -> list[int]:
        """Processes still alive that the grader (or anything it started) started."""
        alive = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            if f"{MARKER}={self.mark}".encode() in environ.split(b"\0"):
                alive.append(int(pid))
        return alive

    def assert_clean(self, *caller_files: str) -> None:
        assert sorted(os.listdir(self.caller)) == sorted(caller_files), "the caller's directory"
        assert os.listdir(self.tmp) == [], "a temporary directory was left behind"
        assert self.survivors() == [], "a process of the submission outlived the grader"


@pytest.fixture
def grader(tmp_path: Path) -> Grader:
    return Grader(tmp_path)


def test_memory_hog_hits_the_memory_cap(grader: Grader) -> None:
    verdict = grader.grade("hostile_memory", "--only", "C1", "--memory", "256M")
    assert verdict["verdict"] == "FAIL"
    assert verdict["reason"] == "exceeded the 256 MiB memory cap"
    assert "MemoryError" in verdict["evidence"]


def test_connection_and_lookup_are_refused_and_reported(grader: Grader) -> None:
    verdict = grader.grade("hostile_network", "--only", "C1")
    assert verdict["verdict"] == "FAIL"  # it would pass: it swallows the refusals
    assert verdict["reason"] == "network access refused: connect to 192.0.2.1:80"
    assert "PASS otherwise" in verdict["evidence"]
    assert "DNS lookup of kata-telemetry.invalid" in verdict["evidence"]
    assert "hostile_network.py" in verdict["evidence"]  # where it was attempted


def test_writes_land_in_the_working_directory_or_are_refused(grader: Grader) -> None:
    precious = grader.caller / "precious.txt"
    precious.write_text("keep me\n")
    verdict = grader.grade("hostile_files", "--only", "C1")
    escaped = grader.caller / "escaped.log"
    assert verdict["reason"] == f"file write refused: {escaped} is outside the working directory"
    assert f"file change refused: os.remove {precious} is outside" in verdict["evidence"]
    assert precious.read_text() == "keep me\n"
    # grade() checked: no fetch-audit.log, no escaped.log in the caller's directory,
    # and the working directory the audit log went to is gone.


def test_a_spawning_loop_is_refused_at_the_processes_cap(grader: Grader) -> None:
    verdict = grader.grade("hostile_spawn", "--only", "C1", "--max-tasks", "12")
    assert verdict["reason"].startswith("exceeded the 12 processes/threads cap")
    assert "subprocess.Popen refused" in verdict["reason"]


def test_processes_started_outside_python_are_counted_and_killed(grader: Grader) -> None:
    verdict = grader.grade("hostile_shell_forks", "--only", "C1", "--max-tasks", "12")
    assert verdict["reason"].startswith("exceeded the 12 processes/threads cap")
    assert verdict["reason"].endswith("killed)")


def test_a_spinning_loop_hits_the_cpu_cap(grader: Grader) -> None:
    verdict = grader.grade("hostile_cpu", "--only", "C1", "--cpu-time", "1", "--timeout", str(WAIT))
    assert verdict["reason"] == "exceeded the 1 s CPU time cap (killed by SIGXCPU)"


def test_hoarding_descriptors_hits_the_files_cap(grader: Grader) -> None:
    verdict = grader.grade("hostile_descriptors", "--only", "C1", "--max-files", "64")
    assert verdict["reason"] == "exceeded the 64 open files cap"
    assert "Too many open files" in verdict["evidence"]


def test_timeout_also_bounds_loading(grader: Grader) -> None:
    done = grader.run(str(SUBMISSIONS / "hostile_import_hang.py"), "--timeout", "2", "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"] == "loading the submission did not finish within 2 s"
    grader.assert_clean()


def _hang_then(grader: Grader, sig: signal.Signals) -> subprocess.CompletedProcess[str]:
    """Grade iso_hang's C1, send *sig* to the grader once the criterion runs; its result."""
    with subprocess.Popen(
        grader.command(str(SUBMISSIONS / "iso_hang.py"), "--only", "C1", "--timeout", str(WAIT)),
        cwd=grader.caller,
        env=grader.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            deadline = time.monotonic() + WAIT
            while not list(grader.tmp.glob("kata-grader-*/0-C1/iso_hang.py")):
                assert proc.poll() is None and time.monotonic() < deadline, "C1 never started"
                time.sleep(0.05)
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=WAIT)
        finally:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_sigterm_kills_the_criterion_and_removes_its_directory(grader: Grader) -> None:
    done = _hang_then(grader, signal.SIGTERM)
    assert done.returncode == 143, done.stderr
    assert "leakcheck-kata: terminated" in done.stderr
    grader.assert_clean()


def test_a_killed_grader_takes_its_workers_along(grader: Grader) -> None:
    """SIGKILL leaves the grader no chance to clean up; the workers still die with it."""
    done = _hang_then(grader, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    deadline = time.monotonic() + WAIT
    while grader.survivors():
        assert time.monotonic() < deadline, "a worker outlived its grader"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "-1"], "argument --timeout: '-1' is not allowed: a number of seconds > 0"),
        (["--timeout", "0"], "argument --timeout: '0' is not allowed: a number of seconds > 0"),
        (["--jobs", "0"], "argument --jobs: '0' is not allowed: a whole number of processes >= 1"),
        (["--memory", "lots"], "argument --memory: 'lots' is not a size (like 512M or 2G)"),
        (["--memory", "64M"], "argument --memory: '64M' is not allowed: at least 256 MiB"),
        (["--max-tasks", "2"], "argument --max-tasks: '2' is not allowed: a whole number >= 8"),
        (["--max-files", "x"], "argument --max-files: 'x' is not allowed: a whole number >= 32"),
        (["--cpu-time", "0"], "argument --cpu-time: '0' is not allowed"),
        (["--only", "C10"], "argument --only: unknown criterion C10 (known: C1..C9)"),
    ],
)
def test_usage_errors_exit_2_with_a_json_error_object(
    args: list[str], message: str, grader: Grader
) -> None:
    done = grader.run(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"leakcheck-kata: error: {message}" in done.stderr
    assert "Traceback" not in done.stderr
    as_json = grader.run(*args, "--json")
    assert as_json.returncode == 2
    data = json.loads(as_json.stdout)
    assert data["target"] is None and data["error"].startswith(message)


def test_usage_error_json_names_the_target(grader: Grader) -> None:
    done = grader.run("answer.py", "--timeout", "-1", "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["target"] == "answer.py"


def test_a_directory_is_not_a_file(grader: Grader) -> None:
    (grader.caller / "subs").mkdir()
    done = grader.run("subs", "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout) == {"target": "subs", "error": "not a file: subs"}


def test_a_worker_session_is_counted() -> None:
    """The /proc count the processes/threads cap rests on sees a session's threads."""
    code = (
        "import sys, threading; e = threading.Event()\n"
        "for _ in range(5): threading.Thread(target=e.wait, daemon=True).start()\n"
        "print('ready', flush=True); sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        counts = tasks_by_session()
        proc.kill()
    assert counts is not None and counts.get(proc.pid) == 6


def test_a_load_check_nobody_kills_ends_itself(grader: Grader) -> None:
    """The backstop for a worker whose grader lost it: a hanging import ends anyway."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "leakcheck_kata.worker",
            f"--out={grader.tmp / 'load.json'}",
            "--limit=0.1",
            f"--target={SUBMISSIONS / 'hostile_import_hang.py'}",
        ],
        cwd=grader.caller,
        env=grader.env,
        capture_output=True,
        timeout=WAIT,
    )
    assert done.returncode == 3  # worker.EXIT_TIMED_OUT, without a report
    assert not (grader.tmp / "load.json").exists()
