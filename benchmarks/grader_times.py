"""Wall and CPU time of ``leakcheck-kata FILE`` for each file of the grader's corpus.

Why this shape: the issue's targets are per submission as a user grades it
(a correct answer in <= 10 s, a hanging one in <= 30 s), so each file is graded
alone by the real command, one after the other, with the options its corpus
header declares (``ONLY``, ``TIMEOUT``, each of its ``BACKENDS``). The wall
time is what the user waits; the CPU time of the command and of every
criterion process it started (``RUSAGE_CHILDREN``) is the part a loaded
machine cannot inflate, so it is printed beside it. The verdict vector is
checked against the file's ``EXPECTED``, so a fast wrong verdict is not a win.

Run:  .venv/bin/python benchmarks/grader_times.py [NAME_PREFIX ...]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.grader.conftest import corpus, expectation  # noqa: E402


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _grade(path: Path, backend: str, only: str | None, timeout: float | None) -> list[str]:
    """Run the command; return the cells of one table row (after the name and backend)."""
    cmd = [sys.executable, "-m", "leakcheck_kata.cli", str(path), "--json", "--backend", backend]
    if only:
        cmd += ["--only", only]
    if timeout:
        cmd += ["--timeout", str(timeout)]
    cpu, started = _cpu(), time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    wall, cpu = time.monotonic() - started, _cpu() - cpu
    try:
        criteria = json.loads(done.stdout)["criteria"]
    except (ValueError, KeyError):
        return [f"{wall:6.1f}", f"{cpu:5.1f}", "cannot grade", done.stderr.strip()[:60]]
    vector = {c["id"]: c["verdict"] for c in criteria}
    retried = sum(1 for c in criteria for n in c["notes"] if "again" in n or "retried" in n)
    return [f"{wall:6.1f}", f"{cpu:5.1f}", "".join(v[0] for v in vector.values()), str(retried)]


def main(prefixes: list[str]) -> None:
    """Print one row per (file, backend); exit 1 if a vector differs from the declared one."""
    names = [n for p in prefixes or ["good_", "bad_", "iso_"] for n in corpus(p)]
    header = f"{'file':<36} {'backend':<8} {'wall s':>6} {'cpu s':>5}  vector     retried"
    print(header + "  as declared")
    wrong = 0
    for name in names:
        exp = expectation(name)
        if sys.version_info < exp.min_python:
            continue
        for backend in exp.backends:
            cells = _grade(exp.path, backend, exp.only, exp.timeout)
            declared = "".join(v[0] for v in exp.vector(backend).values())
            same = cells[2] == declared
            wrong += not same
            print(
                f"{name:<36} {backend:<8} {cells[0]:>6} {cells[1]:>5}  {cells[2]:<10} "
                f"{cells[3]:>7}  {'yes' if same else 'NO: ' + declared}",
                flush=True,
            )
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
