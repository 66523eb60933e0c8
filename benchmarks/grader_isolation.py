"""Each hostile submission through ``leakcheck-kata``: its verdict line, wall time, peak RSS.

Usage: ``python benchmarks/grader_isolation.py`` (Linux; about half a minute).

Each is graded by a fresh grader process, with the default caps unless the
case says otherwise, so the memory hog really fills its 1 GiB. The grader
reports its own peak RSS (``RUSAGE_SELF``: the grader never imports the
submission, so it must stay small however the child misbehaves) and the
largest peak among the criterion processes it reaped (``RUSAGE_CHILDREN``).
Figures go in docs/benchmarks.md ("Grader isolation").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SUBMISSIONS = Path(__file__).resolve().parent.parent / "tests" / "grader" / "submissions"
CASES: list[tuple[str, list[str]]] = [
    ("hostile_memory", ["--only", "C1"]),
    ("hostile_network", ["--only", "C1"]),
    ("hostile_files", ["--only", "C1"]),
    ("hostile_spawn", ["--only", "C1"]),
    ("hostile_shell_forks", ["--only", "C1", "--max-tasks", "32"]),
    # a wall-clock limit well above the CPU cap: on a loaded machine 5 CPU seconds take longer
    ("hostile_cpu", ["--only", "C1", "--cpu-time", "5", "--timeout", "120"]),
    ("hostile_descriptors", ["--only", "C1"]),
    ("hostile_import_hang", ["--timeout", "5"]),
]
WRAPPER = """
import json, resource, sys, time
from leakcheck_kata.cli import main
started = time.monotonic()
status = main(sys.argv[1:])
usage = resource.getrusage
print(json.dumps({
    "status": status,
    "seconds": time.monotonic() - started,
    "grader_kib": usage(resource.RUSAGE_SELF).ru_maxrss,
    "worker_kib": usage(resource.RUSAGE_CHILDREN).ru_maxrss,
}), file=sys.stderr)
"""


def measure(name: str, args: list[str], cwd: str) -> tuple[str, dict[str, float]]:
    """Grade one hostile submission in a fresh grader: its verdict line and figures."""
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(SUBMISSIONS / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PWD": cwd},  # hostile_files writes to $PWD: the caller's directory
        timeout=600,
    )
    figures: dict[str, float] = json.loads(done.stderr.strip().splitlines()[-1])
    lines = done.stdout.splitlines() + done.stderr.splitlines()
    verdict = next((x for x in lines if x.startswith("C1 ") or "cannot grade" in x), "?")
    return verdict.strip(), figures


def main() -> None:
    """Print one block per case: command, verdict line, seconds, grader and worker peak RSS."""
    with tempfile.TemporaryDirectory() as cwd:
        for name, args in CASES:
            verdict, f = measure(name, args, cwd)
            print(f"{name} {' '.join(args)}\n  {verdict}")
            print(
                f"  exit {f['status']:.0f}, {f['seconds']:.1f} s wall; peak RSS: grader "
                f"{f['grader_kib'] / 1024:.0f} MiB, largest criterion process "
                f"{f['worker_kib'] / 1024:.0f} MiB"
            )


if __name__ == "__main__":
    main()
