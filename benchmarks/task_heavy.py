"""Overhead on suites whose tests start many tasks or threads, at three sizes.

Why: the other suites start at most one task or thread per test, so they
hide a cost paid per start. Here every test starts 50 asyncio tasks
(``gather`` of ``sleep(0)``), 20 anyio task-group tasks, or 5 threads; each
suite runs at 250, 1,000 and 4,000 tests, so a cost that grows with what
earlier tests started shows as a ratio that climbs with the size.

Two measures side by side, as in ``plugin_overhead.py`` and
``plugin_instructions.py`` (whose runners this reuses): CPU time (user+sys)
of each fresh pytest process, the configurations in rotating order per
round, the ratio the median of per-round ratios against the same round's
plain run; and instructions executed under callgrind, which the machine's
other tenants cannot disturb (slow: by default at the smallest size only).
pytest-threadleak is the anchor: it does almost nothing per test.

Run:  .venv/bin/python benchmarks/task_heavy.py [--rounds 3] [--sizes 250 1000 4000]
      [--instructions-at 250] [--suite gather50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _suites import TASK_HEAVY, Suite
from plugin_instructions import CONFIGS as INSTRUCTION_CONFIGS
from plugin_instructions import measure
from plugin_overhead import CONFIGS, bench_suite


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=positive, default=3, help="CPU-time rounds (default 3)")
    parser.add_argument("--sizes", type=positive, nargs="+", default=[250, 1000, 4000])
    parser.add_argument(
        "--instructions-at",
        type=int,
        nargs="*",
        default=[250],
        help="sizes also counted under callgrind (default 250; none: skip)",
    )
    parser.add_argument("--jobs", type=positive, default=os.cpu_count() or 1)
    parser.add_argument("--suite", action="append", choices=[s.kind for s in TASK_HEAVY])
    opts = parser.parse_args(argv)
    if opts.instructions_at and shutil.which("valgrind") is None:
        parser.error("--instructions-at needs valgrind (Debian: apt-get install valgrind)")
    unknown = set(opts.instructions_at) - set(opts.sizes)
    if unknown:
        parser.error(f"--instructions-at {sorted(unknown)} is not among --sizes {opts.sizes}")
    suites = [s for s in TASK_HEAVY if not opts.suite or s.kind in opts.suite]

    lines = []
    with tempfile.TemporaryDirectory(prefix="leakcheck-heavy-") as tmp:
        root = Path(tmp)
        for base in suites:
            for size in opts.sizes:
                suite = Suite(base.name, base.kind, size)
                print(f"{suite.name}, {size} tests", file=sys.stderr, flush=True)
                series = bench_suite(root, suite, opts.rounds, CONFIGS)
                counts = (
                    measure(root, suite, size, opts.jobs) if size in opts.instructions_at else {}
                )
                plain = series["plain"]
                for name, res in series.items():
                    cpu = statistics.median(res.cpus)
                    ratio = statistics.median(res.cpu_ratios)
                    loop = statistics.median(res.loops) - statistics.median(plain.loops)
                    instr = (
                        f"{counts[name][0] / counts['plain'][0]:.4f}x" if name in counts else "-"
                    )
                    lines.append(
                        f"| {suite.name:<27} | {size:>5} | {name:<13} | {cpu:>6.2f}s |"
                        f" {ratio:>6.3f}x | {loop / size * 1e6:>8.1f} | {instr:>8} | {res.outcome}"
                    )
                if "plain (again)" in counts and "plain (again)" in INSTRUCTION_CONFIGS:
                    again = counts["plain (again)"][0] / counts["plain"][0]
                    lines.append(
                        f"| {suite.name:<27} | {size:>5} | {'plain (again)':<13} | {'':>7} |"
                        f" {'':>7} | {'':>8} | {again:.4f}x |"
                    )
                for line in lines[-4:]:
                    print(line, file=sys.stderr, flush=True)
    print(
        f"\nrounds: {opts.rounds}; python {sys.version.split()[0]}; cpus {os.cpu_count()}; "
        f"load average at end {os.getloadavg()[0]:.1f}"
    )
    print(
        f"| {'suite':<27} | {'tests':>5} | {'configuration':<13} | {'CPU':>7} | {'x plain':>7} |"
        f" {'loop us/test':>8} | {'instr x':>8} | outcome"
    )
    print("|" + "|".join("-" * w for w in (29, 7, 15, 9, 9, 14, 10, 20)) + "|")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
