"""Where --leakcheck's per-test cost goes: a cProfile breakdown of each generated suite.

Why: a wall-clock ratio says how much the plugin costs, not where. Each suite
runs once in a fresh ``python -m cProfile -m pytest --leakcheck`` process and
the cumulative times of the plugin's own functions are divided by the number
of tests. cProfile inflates every function call several-fold, so the
absolute figures are upper bounds and the shares are what to read; the
``direct`` lines time the clean-path snapshot and verdict with ``timeit``
and no profiler, for the real order of magnitude.

Run:  .venv/bin/python benchmarks/plugin_profile.py [--quick]
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import sys
import tempfile
import timeit
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _suites import SUITES, Suite, pytest_command, pytest_env, write_suite

#: bucket -> (file suffix, function name) whose cumulative time it is
BUCKETS: dict[str, list[tuple[str, str]]] = {
    "snapshot at setup": [("_snapshot.py", "snapshot")],
    "verdict after teardown": [("_verdict.py", "find_leaks")],
    "  of which: task enumeration": [
        ("_loops.py", "pending_tasks"),
        ("_trio.py", "live_tasks"),
    ],
    "  of which: OS thread count (both)": [("_os_threads.py", "os_thread_ids")],
    "origin capture (Thread.start, create_task)": [("_provenance.py", "current_origin")],
    "reaped-task recording (loop shutdown)": [("_ledger.py", "record_reaped")],
    "both hook wrappers (setup/teardown)": [
        ("_session.py", "pytest_runtest_setup"),
        ("_session.py", "pytest_runtest_teardown"),
    ],
}


def profile_suite(root: Path, suite: Suite, count: int) -> dict[str, float]:
    folder = write_suite(root, suite, count)
    out = root / f"{suite.kind}.prof"
    cmd = pytest_command(["--leakcheck"], python_args=["-m", "cProfile", "-o", str(out)])
    subprocess.run(
        cmd, cwd=folder, env=pytest_env({}), check=True, capture_output=True, timeout=900
    )
    raw = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]
    totals = {name: 0.0 for name in BUCKETS}
    wall = 0.0
    for (filename, _line, func), (_cc, _nc, _tt, cumtime, _callers) in raw.items():
        if func == "<module>" and filename.endswith("pytest/__main__.py"):
            wall = max(wall, cumtime)
        for name, keys in BUCKETS.items():
            if any(filename.endswith("pytest_leakcheck/" + f) and func == fn for f, fn in keys):
                totals[name] += cumtime
    totals["(whole profiled run)"] = wall
    # snapshot and verdict run inside the hook wrappers; captures and reaping in the test
    own = (
        totals["both hook wrappers (setup/teardown)"]
        + totals["origin capture (Thread.start, create_task)"]
        + totals["reaped-task recording (loop shutdown)"]
    )
    share = own / wall * 100 if wall else 0.0
    per_test = {name: value / count * 1e6 for name, value in totals.items()}
    per_test["plugin share of the run, %"] = share
    return per_test


def direct_costs() -> dict[str, float]:
    """Clean-path snapshot and verdict, no profiler, in this (quiet) process."""
    from pytest_leakcheck import _patches
    from pytest_leakcheck._frames import capture_stack
    from pytest_leakcheck._options import Options
    from pytest_leakcheck._snapshot import snapshot
    from pytest_leakcheck._values import Owner
    from pytest_leakcheck._verdict import find_leaks

    _patches.install()
    options, owner = Options(), Owner("test", "bench")
    since = snapshot()

    def deep(n: int) -> float:
        if n:
            return deep(n - 1)
        return min(timeit.repeat(lambda: capture_stack(1), number=2000, repeat=5)) / 2000

    number = 3000
    return {
        "snapshot()": min(timeit.repeat(snapshot, number=number, repeat=5)) / number * 1e6,
        "find_leaks() clean": min(
            timeit.repeat(
                lambda: find_leaks(since, options=options, owner=owner), number=number, repeat=5
            )
        )
        / number
        * 1e6,
        "origin capture, 50 frames deep": deep(45) * 1e6,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fifth of each suite")
    opts = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="leakcheck-prof-") as tmp:
        for suite in SUITES:
            count = suite.count // 5 if opts.quick else suite.count
            print(f"profiling {suite.name} ({count} tests)", file=sys.stderr, flush=True)
            results[suite.kind] = profile_suite(Path(tmp), suite, count)
    kinds = [s.kind for s in SUITES]
    print("\nµs per test under cProfile (inflated; read the shares), --leakcheck, origins on")
    print(f"| {'where':<48} |" + "|".join(f" {k:>8} " for k in kinds) + "|")
    print("|" + "-" * 50 + "|" + "|".join("-" * 10 for _ in kinds) + "|")
    for name in [*BUCKETS, "(whole profiled run)", "plugin share of the run, %"]:
        print(f"| {name:<48} |" + "|".join(f" {results[k][name]:>8.1f} " for k in kinds) + "|")
    print("\ndirect (timeit, no profiler, best of 5):")
    for name, us in direct_costs().items():
        print(f"  {name:<32} {us:7.2f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
