"""Wall time of generated suites under plain pytest, --leakcheck, --threadleak and pyleak.

Why this shape: the machine is shared and noisy, so every configuration of a
suite runs in the same round, in rotating order (ABC, BCA, CAB, ...), and the
figures are medians over rounds; the ratio is the median of per-round ratios
(each configuration against the plain run of the same round), which cancels
slow drifts of the machine's load. Each run is a fresh ``python -m pytest``
subprocess, so interpreter start-up and collection are included exactly as a
user pays them. Each run also reports the CPU time of its test loop alone
(``benchmarks/_loop_clock.py``): start-up and collection are most of a run
and the same for every configuration, so the loop's extra CPU per test is
the plugin's per-test cost, measured without the start-up's noise.

pyleak sleeps on every test (a 0.1 s thread grace, a 10 ms task grace), so
running it over the full suites would take many minutes per round: it runs
on a slice of each suite (``--pyleak-slice`` tests) with a plain run of the
same slice beside it, and its ratio is the measured one on that slice; the
``projected`` column extrapolates its per-test cost to the full suite.

Run:  .venv/bin/python benchmarks/plugin_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _suites import SUITES, Suite, outcome, pytest_command, pytest_env, write_suite

CONFIGS: dict[str, tuple[list[str], dict[str, str]]] = {
    "plain": ([], {}),
    "--leakcheck": (["--leakcheck"], {}),
    "--threadleak": (["--threadleak"], {}),
}
PYLEAK: tuple[str, tuple[list[str], dict[str, str]]] = (
    "pyleak no_leaks",
    ([], {"BENCH_PYLEAK": "1"}),
)


_LOOP = re.compile(r"LOOP-CPU-SECONDS ([\d.]+)")


@dataclass
class Series:
    """Wall times of one configuration on one suite, one per round."""

    walls: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)
    loops: list[float] = field(default_factory=list)  # CPU s of the test loop alone
    outcome: str = ""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Row:
    """One line of the table: medians and per-round-paired ratios vs plain."""

    suite: str
    config: str
    wall: float
    ratio: float
    us_wall: float
    cpu: float
    cpu_ratio: float
    us_cpu: float
    us_loop: float  # extra CPU per test inside the test loop (start-up excluded)
    outcome: str

    @classmethod
    def of(cls, suite: str, config: str, series: Series, plain: Series, count: int) -> Row:
        wall, cpu = statistics.median(series.walls), statistics.median(series.cpus)
        plain_wall, plain_cpu = statistics.median(plain.walls), statistics.median(plain.cpus)
        return cls(
            suite,
            config,
            wall,
            statistics.median(series.ratios),
            (wall - plain_wall) / count * 1e6,
            cpu,
            statistics.median(series.cpu_ratios),
            (cpu - plain_cpu) / count * 1e6,
            (statistics.median(series.loops) - statistics.median(plain.loops)) / count * 1e6,
            series.outcome,
        )


def run_pytest(
    folder: Path, args: Sequence[str], env_extra: dict[str, str]
) -> tuple[float, float, float, str]:
    """One fresh pytest process: (wall s, CPU s user+sys, test-loop CPU s, outcome).

    CPU time is reported beside wall time because on a loaded machine the
    wall time of a run mostly measures the other tenants.
    """
    env = pytest_env(env_extra)
    cmd = pytest_command(["-p", "_loop_clock", *args])
    cpu0, start = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu0
    loop = _LOOP.search(proc.stderr)
    return wall, cpu, float(loop.group(1)) if loop else float("nan"), outcome(proc.stdout)


def bench_suite(
    root: Path, suite: Suite, rounds: int, configs: dict[str, tuple[list[str], dict[str, str]]]
) -> dict[str, Series]:
    folder = write_suite(root, suite)
    names = list(configs)
    results = {name: Series() for name in names}
    run_pytest(folder, [], {})  # warm the page cache and the .pyc files
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        walls: dict[str, float] = {}
        cpus: dict[str, float] = {}
        for name in order:
            args, env = configs[name]
            walls[name], cpus[name], loop, results[name].outcome = run_pytest(folder, args, env)
            results[name].loops.append(loop)
        for name in names:
            results[name].walls.append(walls[name])
            results[name].ratios.append(walls[name] / walls["plain"])
            results[name].cpus.append(cpus[name])
            results[name].cpu_ratios.append(cpus[name] / cpus["plain"])
        print(
            f"  round {r + 1}/{rounds}: " + "  ".join(f"{n}={walls[n]:.2f}s" for n in names),
            file=sys.stderr,
            flush=True,
        )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds, pyleak on 20 tests")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 7; quick 3)")
    parser.add_argument("--pyleak-slice", type=int, default=None, help="default 100; quick 20")
    parser.add_argument("--pyleak-rounds", type=int, default=3)
    parser.add_argument("--no-pyleak", action="store_true")
    parser.add_argument("--suite", action="append", choices=[s.kind for s in SUITES])
    opts = parser.parse_args(argv)
    rounds = opts.rounds or (3 if opts.quick else 7)
    slice_n = opts.pyleak_slice or (20 if opts.quick else 100)
    suites = [s for s in SUITES if not opts.suite or s.kind in opts.suite]

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="leakcheck-bench-") as tmp:
        root = Path(tmp)
        for suite in suites:
            print(f"{suite.name}: {rounds} rounds", file=sys.stderr, flush=True)
            res = bench_suite(root, suite, rounds, CONFIGS)
            rows.extend(
                Row.of(suite.name, name, series, res["plain"], suite.count)
                for name, series in res.items()
            )
            if opts.no_pyleak:
                continue
            part = Suite(suite.name, suite.kind, min(slice_n, suite.count))
            print(f"  pyleak on {part.count} tests", file=sys.stderr, flush=True)
            pres = bench_suite(
                root, part, opts.pyleak_rounds, {"plain": CONFIGS["plain"], PYLEAK[0]: PYLEAK[1]}
            )
            row = Row.of(suite.name, PYLEAK[0], pres[PYLEAK[0]], pres["plain"], part.count)
            plain = statistics.median(res["plain"].walls)
            projected = (plain + row.us_wall * suite.count / 1e6) / plain
            row.config = f"{PYLEAK[0]} [{part.count} tests; ~{projected:.0f}x full]"
            rows.append(row)

    print()
    print(
        f"rounds: {rounds}; python {sys.version.split()[0]}; cpus {os.cpu_count()}; "
        f"load average at end {os.getloadavg()[0]:.1f}"
    )
    print(
        f"| {'suite':<23} | {'configuration':<37} | {'wall':>7} | {'x plain':>7} |"
        f" {'us/test':>7} | {'CPU':>7} | {'x plain':>7} | {'us/test':>7} | {'loop us':>7} |"
        " outcome"
    )
    print("|" + "|".join("-" * w for w in (25, 39, 9, 9, 9, 9, 9, 9, 9, 20)) + "|")
    for r in rows:
        print(
            f"| {r.suite:<23} | {r.config:<37} | {r.wall:>6.2f}s | {r.ratio:>6.3f}x |"
            f" {r.us_wall:>7.0f} | {r.cpu:>6.2f}s | {r.cpu_ratio:>6.3f}x | {r.us_cpu:>7.0f} |"
            f" {r.us_loop:>7.1f} | {r.outcome}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
