"""Instructions executed by each generated suite under plain pytest, --leakcheck and --threadleak.

Why: on a shared two-core machine the same pytest run's wall *and* CPU time
swing by up to 2x from one minute to the next (other tenants share the
physical cores), more than the 5 % the overhead target is about. Instructions
counted by ``valgrind --tool=callgrind`` do not depend on what else the
machine is doing: the same run gives the same count, so the ratio of two
counts is the plugin's cost, with no rounds and no medians. It is a count of
work, not of time (cache misses and system calls weigh more in seconds), so
it is read beside the wall-time benchmark (``plugin_overhead.py``), not
instead of it.

Each run is a fresh ``python -m pytest`` under callgrind (start-up and
collection included, as a user pays them), with a fixed hash seed; the plain
run is repeated to show the count's own spread.

Run:  .venv/bin/python benchmarks/plugin_instructions.py [--scale 0.2] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _suites import SUITES, Suite, outcome, pytest_command, pytest_env, write_suite

CONFIGS: dict[str, list[str]] = {
    "plain": [],
    "plain (again)": [],
    "--leakcheck": ["--leakcheck"],
    "--threadleak": ["--threadleak"],
}
_TOTALS = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


def count_instructions(folder: Path, args: list[str], out: Path) -> tuple[int, str]:
    """One pytest run under callgrind: (instructions executed, pytest's outcome line)."""
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    env = pytest_env({"PYTHONHASHSEED": "0"})
    proc = subprocess.run(
        [*valgrind, *pytest_command(args)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    found = _TOTALS.search(out.read_text()) if out.exists() else None
    if found is None:
        raise RuntimeError(f"callgrind gave no total for {args}: {proc.stderr[-500:]}")
    return int(found.group(1)), outcome(proc.stdout)


def measure(root: Path, suite: Suite, count: int, jobs: int) -> dict[str, tuple[int, str]]:
    folder = write_suite(root, suite, count)
    # Warm the .pyc and assertion-rewrite caches outside valgrind.
    subprocess.run(pytest_command([]), cwd=folder, env=pytest_env({}), capture_output=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            name: pool.submit(count_instructions, folder, args, root / f"{suite.kind}.{i}.cg")
            for i, (name, args) in enumerate(CONFIGS.items())
        }
        return {name: future.result() for name, future in futures.items()}


def positive_scale(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"--scale must be in (0, 1], got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", type=positive_scale, default=1.0, help="fraction of each suite (default 1)"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at once")
    parser.add_argument("--suite", action="append", choices=[s.kind for s in SUITES])
    opts = parser.parse_args(argv)
    if opts.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {opts.jobs}")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian: apt-get install valgrind)")
    suites = [s for s in SUITES if not opts.suite or s.kind in opts.suite]
    print(
        "| suite                   | configuration  |   instructions | x plain | per test | outcome"
    )
    print("|" + "|".join("-" * w for w in (25, 16, 16, 9, 10, 20)) + "|")
    with tempfile.TemporaryDirectory(prefix="leakcheck-cg-") as tmp:
        for suite in suites:
            count = max(1, round(suite.count * opts.scale))
            print(f"{suite.name}: {count} tests", file=sys.stderr, flush=True)
            results = measure(Path(tmp), suite, count, opts.jobs)
            plain = results["plain"][0]
            for name, (total, outcome) in results.items():
                print(
                    f"| {suite.name:<23} | {name:<14} | {total:>14,} | {total / plain:6.4f}x"
                    f" | {(total - plain) / count:>8,.0f} | {outcome}",
                    flush=True,
                )
    print(f"\npython {sys.version.split()[0]}; counts from valgrind --tool=callgrind")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
