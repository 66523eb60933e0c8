"""What the instrumentation costs per task start and per thread start, in microseconds.

Why this shape: the cost to measure is a microsecond or so, far below the
noise of a whole pytest run, so it is timed inside one test, around the
starts alone, at the depth a real test starts them (under pytest's hook
loop, pytest-asyncio's runner and the event loop: the stack a capture
walks). Each measured step is repeated and the fastest repeat kept (the
machine's other tenants only ever add time); the same test runs in fresh
pytest processes with and without ``--leakcheck``, alternately, and the
per-start cost is the difference of the medians over those processes.

Each step covers a start's whole life, so bookkeeping done when a task or
thread goes away is counted too:

- ``create_task+cancel``: ``loop.create_task(coro)`` then ``.cancel()``,
  the cancelled tasks run to their end;
- ``gather(50 sleep(0))``: per task, as in the task-heavy suites;
- ``trio start_soon``: per task of a nursery running ``trio.sleep(0)``;
- ``thread start+join``: per thread (its start dominates: read the
  difference, not the ratio).

With ``--instructions`` it counts instructions instead (callgrind, which the
machine's other tenants cannot disturb): a test that does 10,000 and one that
does 20,000 ``create_task``+``cancel`` cycles, each configuration; the
difference over the 10,000 extra cycles is the cost per start, start-up and
the per-test check cancelled out.

Run:  .venv/bin/python benchmarks/start_cost.py [--runs 5] [--instructions]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _suites import pytest_command, pytest_env, suite_folder
from plugin_instructions import count_instructions

MARK = "START-COST"

_TEST = '''\
import asyncio
import gc
import threading
import time

import pytest
import trio

REPEATS = 25


def _report(name, per_start):
    print(f"\\n{MARK} {name} {per_start * 1e6:.4f}")


def _fastest(step, count):
    """Seconds per start of the fastest of REPEATS runs of *step*."""
    best = min(step() for _ in range(REPEATS))
    return best / count


async def _noop():
    pass


@pytest.mark.asyncio
async def test_asyncio_starts():
    loop = asyncio.get_running_loop()
    count = 1000

    async def create_cancel():
        start = time.process_time()
        for _ in range(count):
            loop.create_task(_noop()).cancel()
        await asyncio.sleep(0)  # the cancelled tasks take their one step and end
        await asyncio.sleep(0)
        return time.process_time() - start

    async def gather():
        start = time.process_time()
        for _ in range(20):
            await asyncio.gather(*(asyncio.sleep(0) for _ in range(50)))
        return time.process_time() - start

    steps = (("create_task+cancel", create_cancel, count), ("gather(50 sleep(0))", gather, 1000))
    for name, step, n in steps:
        best = min([await step() for _ in range(REPEATS)])
        _report(name, best / n)


def test_trio_starts():
    count = 1000

    async def main():
        start = time.process_time()
        async with trio.open_nursery() as nursery:
            for _ in range(count):
                nursery.start_soon(trio.sleep, 0)
        return time.process_time() - start

    _report("trio start_soon", _fastest(lambda: trio.run(main), count))


def test_thread_starts():
    count = 100

    def step():
        start = time.process_time()
        for _ in range(count):
            thread = threading.Thread(target=int)
            thread.start()
            thread.join()
        return time.process_time() - start

    _report("thread start+join", _fastest(step, count))


async def _cycles(count):
    # The collector off: whether a full pass falls inside the counted cycles
    # would move the count by more than a start costs.
    loop = asyncio.get_running_loop()
    gc.collect()
    gc.disable()
    try:
        for _ in range(count // 50):
            for _ in range(50):
                loop.create_task(_noop()).cancel()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
    finally:
        gc.enable()


@pytest.mark.asyncio
async def test_calls_10000():
    await _cycles(10000)


@pytest.mark.asyncio
async def test_calls_20000():
    await _cycles(20000)
'''.replace("{MARK}", MARK)

_LINE = re.compile(rf"^{MARK} (.+) ([\d.]+)$", re.MULTILINE)


def run(folder: Path, args: Sequence[str]) -> dict[str, float]:
    """One fresh pytest process: microseconds per start, by step."""
    proc = subprocess.run(
        pytest_command(["-s", "-k", "starts", *args]),
        cwd=folder,
        env=pytest_env({}),
        capture_output=True,
        text=True,
        timeout=900,
    )
    found = {name: float(us) for name, us in _LINE.findall(proc.stdout)}
    if not found or proc.returncode:
        raise RuntimeError(f"pytest {args} failed: {proc.stdout[-1500:]}{proc.stderr[-500:]}")
    return found


def instructions(folder: Path, configs: dict[str, list[str]]) -> int:
    """Instructions per create_task+cancel cycle, by configuration (callgrind)."""
    counts: dict[str, dict[int, int]] = {name: {} for name in configs}
    # Warm the .pyc and assertion-rewrite caches outside valgrind: the first
    # counted run would pay for compiling, and the two sizes run at once.
    for args in configs.values():
        subprocess.run(
            pytest_command([*args, "-k", "test_calls_10000"]),
            cwd=folder,
            env=pytest_env({}),
            capture_output=True,
            timeout=900,
        )
    jobs: list[tuple[str, int, list[str], Path]] = []
    for name, args in configs.items():
        for cycles in (10000, 20000):
            out = folder / f"cg.{len(jobs)}"
            jobs.append((name, cycles, [*args, "-k", f"test_calls_{cycles}"], out))
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(lambda job: count_instructions(folder, job[2], job[3])[0], jobs)
        for (name, cycles, _, _), total in zip(jobs, done, strict=True):
            counts[name][cycles] = total
    print("| configuration | instructions per create_task+cancel cycle | extra |")
    print("|---------------|-------------------------------------------|-------|")
    plain = (counts["plain"][20000] - counts["plain"][10000]) / 10000
    for name, by in counts.items():
        per = (by[20000] - by[10000]) / 10000
        print(f"| {name:<13} | {per:>41,.0f} | {per - plain:>5,.0f} |")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per configuration")
    parser.add_argument("--instructions", action="store_true", help="count under callgrind")
    opts = parser.parse_args(argv)
    if opts.runs < 1:
        parser.error(f"--runs must be at least 1, got {opts.runs}")
    configs = {"plain": [], "--leakcheck": ["--leakcheck"]}
    if opts.instructions:
        if shutil.which("valgrind") is None:
            parser.error("--instructions needs valgrind (Debian: apt-get install valgrind)")
        with tempfile.TemporaryDirectory(prefix="leakcheck-start-") as tmp:
            folder = suite_folder(Path(tmp), "start_cost")
            (folder / "test_start_cost.py").write_text(_TEST)
            return instructions(folder, configs)
    results: dict[str, dict[str, list[float]]] = {name: {} for name in configs}
    with tempfile.TemporaryDirectory(prefix="leakcheck-start-") as tmp:
        folder = suite_folder(Path(tmp), "start_cost")
        (folder / "test_start_cost.py").write_text(_TEST)
        for r in range(opts.runs):
            for name in list(configs)[r % 2 :] + list(configs)[: r % 2]:
                for step, us in run(folder, configs[name]).items():
                    results[name].setdefault(step, []).append(us)
            print(f"  run {r + 1}/{opts.runs} done", file=sys.stderr, flush=True)
    print(
        f"\nmedian over {opts.runs} processes of the fastest of 25 repeats; python "
        f"{sys.version.split()[0]}"
    )
    print(f"| {'step':<21} | {'plain us':>9} | {'--leakcheck us':>14} | {'extra us':>8} |")
    print("|" + "|".join("-" * w for w in (23, 11, 16, 10)) + "|")
    for step, plain in results["plain"].items():
        base = statistics.median(plain)
        checked = statistics.median(results["--leakcheck"][step])
        print(f"| {step:<21} | {base:>9.3f} | {checked:>14.3f} | {checked - base:>8.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
