"""Fetcher benchmarks against a real HTTP server on 127.0.0.1: throughput, cancellation, memory.

Why this shape:

* The server is a bare asyncio responder in its own process
  (``_http_server.py``), so on a 2-core machine the client side is what is
  measured, not uvicorn sharing the client's GIL.
* Throughput compares the reference ``DataFetcher`` with the plainest
  correct loop over the *same* ``httpx.AsyncClient`` (``asyncio.gather`` +
  ``Semaphore``; on trio a task group + ``CapacityLimiter``), and with
  aiohttp, in rotating order within each round; the ratio is the median of
  per-round ratios.
* Cancellation latency is measured from the cancel to ``__aexit__``
  returning (client clock), and to the server process seeing its last
  connection close (both sides read CLOCK_MONOTONIC), for the fetcher with
  its own client and with a given one, beside a plain task group of
  ``client.get`` calls over the same kind of client (httpx's transport and
  pool), and four floors (raw anyio sockets; bare asyncio protocols, no anyio;
  blocking sockets closed one by one, no event loop; the same, each held
  by an asyncio task that is cancelled);
  with the CPU time and the garbage collector's time of that phase
  (``cancel_profile.py`` has the cases). "Quiescence" is the later of the
  two: no task of the block left and no connection open on the server; its
  ratio to the plain task group is the median of per-round ratios.
* ``ratios`` runs throughput and cancellation in one go and prints the two
  ratios the fetcher is held to side by side (``docs/benchmarks.md``).
* Memory runs each size in a fresh subprocess, so peak RSS (``VmHWM``) is
  that run's own peak; live tasks are sampled every 2 ms and counted by name,
  so the fetcher's own tasks are told from the TCP-connect helpers the
  sockets layer starts. The URLs come from a lazy collection, so the input
  list is not what is measured.

Run:  .venv/bin/python benchmarks/fetcher_bench.py [--quick] [--json FILE]
      [ratios|throughput|cancel|memory|all]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _http_server import BenchServer
from cancel_profile import (
    ASYNCIO_ONLY,
    Sample,
    counts,
    one_case,
    positive,
    raise_fd_limit,
    variant_names,
)
from cancel_profile import VARIANTS as CANCEL_ORDER

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fetcher import DataFetcher

BACKENDS: tuple[str, ...] = ("asyncio", "trio")


class UrlRange(Collection[str]):
    """*n* URLs made on the fly: a caller's input that costs O(1) memory."""

    def __init__(self, base: str, n: int) -> None:
        self.base, self.n = base, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[str]:
        base = self.base
        return (f"{base}?i={i}" for i in range(self.n))

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and item.startswith(self.base)


def _client(max_connections: int | None, mock: bool = False) -> httpx.AsyncClient:
    if mock:
        # In-process transport: the fetcher's own structure, without httpcore's pool.
        return httpx.AsyncClient(
            # A stream, as a network response is: the fetcher reads the raw
            # stream, and a Response(content=...) counts as already consumed.
            transport=httpx.MockTransport(
                lambda request: httpx.Response(200, stream=httpx.ByteStream(b"x" * 64))
            )
        )
    keepalive = max_connections if max_connections is not None else 0
    return httpx.AsyncClient(
        timeout=httpx.Timeout(60.0),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=keepalive),
    )


# -- throughput ------------------------------------------------------------------


async def run_fetcher(urls: UrlRange, conc: int) -> int:
    ok = 0
    async with _client(conc) as client:
        # timeout=300: the plain loops have only httpx's per-phase timeouts, and on
        # a loaded machine the default 30 s for a whole request can run out.
        fetcher = DataFetcher(client, max_concurrency=conc, timeout=300)
        async with fetcher.fetch(urls) as results:
            async for r in results:
                ok += r.error is None
                if r.error is not None:
                    print(f"  {r.url}: {r.error!r}", file=sys.stderr)
    return ok


async def run_gather(urls: UrlRange, conc: int) -> int:
    sem = asyncio.Semaphore(conc)
    async with _client(conc) as client:

        async def one(url: str) -> bool:
            async with sem:
                response = await client.get(url)
                response.raise_for_status()
                return bool(response.content)

        return sum(await asyncio.gather(*(one(u) for u in urls)))


async def run_taskgroup(urls: UrlRange, conc: int) -> int:
    """trio's plain loop: a task per URL under a CapacityLimiter (no gather in trio)."""
    limiter = anyio.CapacityLimiter(conc)
    done = 0
    async with _client(conc) as client:

        async def one(url: str) -> None:
            nonlocal done
            async with limiter:
                response = await client.get(url)
                response.raise_for_status()
                done += bool(response.content)

        async with anyio.create_task_group() as tg:
            for u in urls:
                tg.start_soon(one, u)
    return done


async def run_aiohttp(urls: UrlRange, conc: int) -> int:
    import aiohttp

    sem = asyncio.Semaphore(conc)
    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> bool:
            async with sem, session.get(url) as response:
                response.raise_for_status()
                return bool(await response.read())

        return sum(await asyncio.gather(*(one(u) for u in urls)))


def _have_aiohttp() -> bool:
    """aiohttp is only a reference point (the ``bench`` extra); leave it out if absent."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return False
    return True


Variant = tuple[str, Callable[[UrlRange, int], Awaitable[int]]]
AIOHTTP: list[Variant] = [("aiohttp gather+Semaphore", run_aiohttp)] if _have_aiohttp() else []
THROUGHPUT: dict[str, list[Variant]] = {
    "asyncio": [
        ("DataFetcher", run_fetcher),
        ("gather+Semaphore (httpx)", run_gather),
        *AIOHTTP,
    ],
    "trio": [
        ("DataFetcher", run_fetcher),
        ("task group+CapacityLimiter (httpx)", run_taskgroup),
    ],
}


def throughput(server: BenchServer, n: int, conc: int, rounds: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    urls = UrlRange(server.url("/ok"), n)
    for backend in BACKENDS:
        variants = THROUGHPUT[backend]
        walls: dict[str, list[float]] = {name: [] for name, _ in variants}
        ratios: dict[str, list[float]] = {name: [] for name, _ in variants}
        cpus: dict[str, list[float]] = {name: [] for name, _ in variants}
        cpu_ratios: dict[str, list[float]] = {name: [] for name, _ in variants}
        failed: dict[str, int] = {name: 0 for name, _ in variants}
        anyio.run(variants[0][1], UrlRange(server.url("/ok"), min(n, 500)), conc, backend=backend)
        for r in range(rounds):
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            this: dict[str, float] = {}
            cpu: dict[str, float] = {}
            for name, fn in order:
                server.wait_closed()
                cpu0, start = time.process_time(), time.perf_counter()
                got = anyio.run(fn, urls, conc, backend=backend)
                this[name] = time.perf_counter() - start
                cpu[name] = time.process_time() - cpu0
                if got != n:  # said and counted, not fatal: a loaded machine can time one out
                    print(f"  {name} on {backend}: {got} of {n} succeeded", file=sys.stderr)
                    failed[name] += n - got
            baseline = this[variants[1][0]]
            for name in this:
                walls[name].append(this[name])
                ratios[name].append(this[name] / baseline)
                cpus[name].append(cpu[name])
                cpu_ratios[name].append(cpu[name] / cpu[variants[1][0]])
            _progress(f"throughput {backend} round {r + 1}/{rounds}: ", this)
        for name, _ in variants:
            wall = statistics.median(walls[name])
            rows.append(
                {
                    "backend": backend,
                    "variant": name,
                    "urls": n,
                    "concurrency": conc,
                    "median_s": wall,
                    "req_per_s": n / wall,
                    "ratio_vs_plain": statistics.median(ratios[name]),
                    "walls": walls[name],
                    "cpu_s": statistics.median(cpus[name]),
                    "cpu_us_per_req": statistics.median(cpus[name]) / n * 1e6,
                    "cpu_ratio_vs_plain": statistics.median(cpu_ratios[name]),
                    "failed_requests": failed[name],
                }
            )
    return rows


# -- cancellation latency ------------------------------------------------------------


CANCEL_VARIANTS: dict[str, str] = {
    "floor-close": "floor: close(2) only, no tasks",
    "floor-tasks": "floor: a task per fetch + close(2)",
    "owned": "DataFetcher (own client)",
    "given": "DataFetcher (given client)",
    "plain": "task group (plain httpx)",
    "floor": "floor: raw anyio sockets",
    "floor-asyncio": "floor: bare asyncio, no anyio",
}
"""cancel_profile's variant names and the names the tables and the plot show."""


def quiescence(sample: Sample) -> float:
    """Cancel -> nothing left: the block has exited and the server has seen every close."""
    return max(sample.exit, sample.closed)


def cancel(
    server: BenchServer,
    counts: list[int],
    rounds: int,
    variants: list[str],
    setup_bound: float,
    once_after: float = 60.0,
    large_rounds: int = 1,
) -> list[dict[str, Any]]:
    """K requests hanging on the server, cancelled; every variant in every round, rotating.

    The cases themselves are ``cancel_profile.one_case``: the profiling
    script and this benchmark measure exactly the same thing. A case whose
    set-up took longer than *once_after* seconds (httpcore's pool at 10,000)
    is not repeated at that size: its row says how many runs it has. Sizes
    above 1,000 run *large_rounds* rounds (their set-up takes tens of seconds).
    """
    rows: list[dict[str, Any]] = []
    cases = [(b, v) for b in BACKENDS for v in variants if b == "asyncio" or v not in ASYNCIO_ONLY]
    for k in counts:
        samples: dict[tuple[str, str], list[Sample]] = {c: [] for c in cases}
        by_round: dict[tuple[str, str], dict[int, Sample]] = {c: {} for c in cases}
        failed: set[tuple[str, str]] = set()  # not measured, or measured once and slow
        for r in range(rounds if k <= 1000 else min(rounds, large_rounds)):
            for backend, variant in cases[r % len(cases) :] + cases[: r % len(cases)]:
                if (backend, variant) in failed:
                    continue
                server.wait_closed()
                gc.collect()  # each case starts from the same heap, not the last case's garbage
                try:
                    got = anyio.run(
                        one_case, server, variant, k, None, setup_bound, backend=backend
                    )
                except RuntimeError as exc:  # e.g. httpx could not get K requests out in time
                    print(
                        f"  cancel k={k} {backend} {variant}: not measured: {exc}", file=sys.stderr
                    )
                    failed.add((backend, variant))
                    if not server.wait_closed(600):
                        raise
                    continue
                samples[backend, variant].append(got)
                by_round[backend, variant][r] = got
                if got.setup > once_after:
                    failed.add((backend, variant))
                print(
                    f"  cancel k={k} {backend} {variant}: aexit {got.exit * 1e3:.2f} ms"
                    f" (CPU {got.cpu * 1e3:.2f}, GC {got.gc * 1e3:.2f}), server closed"
                    f" {got.closed * 1e3:.2f} ms (set-up {got.setup:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
        for backend, variant in cases:
            got_all = samples[backend, variant]
            row: dict[str, Any] = {
                "backend": backend,
                "variant": CANCEL_VARIANTS[variant],
                "in_flight": k,
                "runs": len(got_all),
            }
            if got_all:
                exit_ms = statistics.median(s.exit * 1e3 for s in got_all)
                row |= {
                    "aexit_ms": exit_ms,
                    "aexit_ms_per_100": exit_ms / k * 100,
                    "server_closed_ms": statistics.median(s.closed * 1e3 for s in got_all),
                    "cpu_ms": statistics.median(s.cpu * 1e3 for s in got_all),
                    "gc_ms": statistics.median(s.gc * 1e3 for s in got_all),
                    "setup_s": statistics.median(s.setup for s in got_all),
                    "samples_aexit_ms": [s.exit * 1e3 for s in got_all],
                    "samples_closed_ms": [s.closed * 1e3 for s in got_all],
                    "samples_gc_ms": [s.gc * 1e3 for s in got_all],
                    "quiescence_ms": statistics.median(quiescence(s) * 1e3 for s in got_all),
                }
                plain = by_round.get((backend, "plain"), {})
                ratios = [
                    quiescence(s) / quiescence(plain[r])
                    for r, s in by_round[backend, variant].items()
                    if r in plain
                ]
                if ratios:
                    row["quiescence_vs_plain"] = statistics.median(ratios)
            else:
                row["not_measured"] = f"set-up of {k} requests did not finish in {setup_bound:g} s"
            rows.append(row)
    return rows


# -- memory --------------------------------------------------------------------------


def _task_names(backend: str) -> list[str]:
    """Names of every live task: the fetcher names its own ("fetcher worker 3")."""
    if backend == "asyncio":
        return [t.get_name() for t in asyncio.all_tasks()]
    import trio

    names: list[str] = []

    def walk(task: Any) -> None:
        names.append(task.name)
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child)

    walk(trio.lowlevel.current_root_task())
    return names


class TaskPeaks:
    """Peak live tasks, split so a library's helpers are not charged to the fetcher.

    While a connection opens, anyio's ``connect_tcp`` (asyncio) and trio's
    ``open_tcp_stream`` each run one attempt task per address: up to one
    helper per worker, for as long as the pool keeps opening connections.
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.total = self.fetcher = self.connect = 0

    def look(self) -> None:
        names = _task_names(self.backend)
        self.total = max(self.total, len(names))
        self.fetcher = max(self.fetcher, sum(n.startswith("fetcher ") for n in names))
        self.connect = max(self.connect, sum("connect" in n for n in names))


def _vm_hwm_kib() -> int:
    """Peak RSS of this process image (VmHWM; Linux).

    Not ``ru_maxrss``: a child inherits its parent's high-water mark across
    fork and exec, so it would report the benchmark driver's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _memory_child(base: str, n: int, conc: int, backend: str, mock: bool) -> dict[str, Any]:
    peaks = TaskPeaks(backend)
    received = 0
    rss_before = _vm_hwm_kib()

    async def sample() -> None:
        while True:
            peaks.look()
            await anyio.sleep(0.002)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(sample)
        async with _client(conc, mock) as client:  # noqa: SIM117 (a shorter diff to read)
            async with DataFetcher(client, max_concurrency=conc).fetch(
                UrlRange(base, n)
            ) as results:
                async for r in results:
                    received += r.error is None
                    if received % 1000 == 0:
                        peaks.look()
        tg.cancel_scope.cancel()
    return {
        "backend": backend,
        "urls": n,
        "ok": received,
        "concurrency": conc,
        "transport": "MockTransport" if mock else "sockets",
        "peak_live_tasks": peaks.total,
        "peak_fetcher_tasks": peaks.fetcher,
        "peak_connect_helpers": peaks.connect,
        "rss_before_kib": rss_before,
        "peak_rss_kib": _vm_hwm_kib(),
        "wall_s": time.perf_counter() - start,
    }


def memory(
    server: BenchServer, sizes: list[int], conc: int, transport: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for backend in BACKENDS:
        for n in sizes:
            server.wait_closed()
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "_memory-child",
                    server.url("/ok"),
                    str(n),
                    str(conc),
                    backend,
                    transport,
                ],
                capture_output=True,
                text=True,
                timeout=900,
                check=True,
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"  memory {backend} n={n}: {row}", file=sys.stderr, flush=True)
    return rows


# -- output --------------------------------------------------------------------------


def _progress(prefix: str, walls: dict[str, float]) -> None:
    print(
        prefix + "  ".join(f"{k}={v:.2f}s" for k, v in walls.items()), file=sys.stderr, flush=True
    )


def print_tables(results: dict[str, list[dict[str, Any]]]) -> None:
    print(
        f"python {sys.version.split()[0]}; cpus {os.cpu_count()}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if "throughput" in results:
        rows = results["throughput"]
        print(f"\nthroughput: {rows[0]['urls']} URLs")
        print(
            "| conc | backend | variant                            | median wall | req/s  |"
            " vs plain | client CPU/req | CPU vs plain |"
        )
        print(
            "|------|---------|------------------------------------|-------------|--------|"
            "----------|----------------|--------------|"
        )
        for r in rows:
            print(
                f"| {r['concurrency']:>4} | {r['backend']:<7} | {r['variant']:<34} |"
                f" {r['median_s']:>9.2f} s |"
                f" {r['req_per_s']:>6.0f} | {r['ratio_vs_plain']:>7.3f}x |"
                f" {r['cpu_us_per_req']:>11.0f} µs | {r['cpu_ratio_vs_plain']:>11.3f}x |"
            )
    if "cancel" in results:
        print(
            "\ncancellation latency (median): cancel -> the block's exit returns (CPU and GC: of"
            " this process, in that phase); -> server sees all closed"
        )
        print(
            "| backend | variant                               | in flight | runs | to __aexit__ |"
            "       CPU |        GC | to server closed | quiescence | vs plain | set-up |"
        )
        print(
            "|---------|---------------------------------------|-----------|------|--------------|"
            "-----------|-----------|------------------|------------|----------|--------|"
        )
        for r in results["cancel"]:
            head = f"| {r['backend']:<7} | {r['variant']:<37} | {r['in_flight']:>9} |"
            if "aexit_ms" not in r:
                print(f"{head} not measured: {r['not_measured']} |")
                continue
            ratio = r.get("quiescence_vs_plain")
            shown = f"{ratio:>7.3f}x" if ratio is not None else "       -"
            print(
                f"{head} {r['runs']:>4} | {r['aexit_ms']:>9.1f} ms |"
                f" {r['cpu_ms']:>6.0f} ms | {r['gc_ms']:>6.0f} ms |"
                f" {r['server_closed_ms']:>13.1f} ms | {r['quiescence_ms']:>7.1f} ms |"
                f" {shown} | {r['setup_s']:>5.1f}s |"
            )
    if "throughput" in results and "cancel" in results:
        print_ratios(results)
    if "memory" in results:
        rows = results["memory"]
        print(f"\nmemory: max_concurrency {rows[0]['concurrency']}, {rows[0]['transport']}")
        print(
            "| backend | URLs    | ok      | peak live tasks | of them the fetcher's |"
            " connect helpers | peak RSS    | RSS vs smallest | wall   |"
        )
        print(
            "|---------|---------|---------|-----------------|-----------------------|"
            "-----------------|-------------|-----------------|--------|"
        )
        smallest: dict[str, int] = {}
        for r in rows:
            smallest.setdefault(r["backend"], r["peak_rss_kib"])
            print(
                f"| {r['backend']:<7} | {r['urls']:>7} | {r['ok']:>7} |"
                f" {r['peak_live_tasks']:>15} | {r['peak_fetcher_tasks']:>21} |"
                f" {r['peak_connect_helpers']:>15} |"
                f" {r['peak_rss_kib'] / 1024:>7.1f} MiB |"
                f" {r['peak_rss_kib'] / smallest[r['backend']]:>14.3f}x |"
                f" {r['wall_s']:>5.1f}s |"
            )


def print_ratios(results: dict[str, list[dict[str, Any]]]) -> None:
    """The two ratios the fetcher is held to, side by side (medians of per-round ratios)."""
    print("\nratios, fetcher / plain httpx (median of per-round ratios; same run)")
    print("| backend | measure                                | DataFetcher | target  |")
    print("|---------|----------------------------------------|-------------|---------|")
    for r in results["throughput"]:
        if r["variant"] == "DataFetcher":
            what = f"wall, {r['urls']} URLs, max_concurrency {r['concurrency']}"
            print(f"| {r['backend']:<7} | {what:<38} | {r['ratio_vs_plain']:>10.3f}x | ≤ 1.05x |")
    for r in results["cancel"]:
        ratio = r.get("quiescence_vs_plain")
        if ratio is None or not r["variant"].startswith("DataFetcher"):
            continue
        client = "given" if "given" in r["variant"] else "own"
        what = f"cancel, {r['in_flight']} in flight, {client} client"
        target = "≤ 1.2x" if r["in_flight"] <= 1000 else "-"
        print(f"| {r['backend']:<7} | {what:<38} | {ratio:>10.3f}x | {target:<7} |")


def main(argv: list[str] | None = None) -> int:
    global BACKENDS
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_memory-child":
        base, n, conc, backend = argv[1], int(argv[2]), int(argv[3]), argv[4]
        mock = argv[5] == "mock"
        print(json.dumps(anyio.run(_memory_child, base, n, conc, backend, mock, backend=backend)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["ratios", "throughput", "cancel", "memory", "all"],
        help="ratios = throughput and cancellation (plain, given, owned) in one run",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="300 URLs x 3 rounds; 100 and 1,000 in flight once; memory capped at 20,000 URLs",
    )
    parser.add_argument("--rounds", type=positive, default=None)
    parser.add_argument(
        "--urls", type=positive, default=None, help="throughput URLs (default 10,000; quick 300)"
    )
    parser.add_argument(
        "--concurrency",
        type=counts,
        default=[100, 10],
        help="throughput max_concurrency values (100,10)",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, default=None, help="only this backend (default both)"
    )
    parser.add_argument(
        "--variants",
        type=variant_names,
        default=None,
        help="cancellation variants (default all; ratios: plain,given,owned): owned ="
        " DataFetcher(None), given = DataFetcher over an httpx.AsyncClient, plain = bare"
        " client.get tasks over such a client, floor = raw anyio sockets, floor-asyncio ="
        " bare asyncio protocols without anyio, floor-close = blocking sockets closed one by one,"
        " floor-tasks = the same, each held by a cancelled asyncio task (these three asyncio"
        " only)",
    )
    parser.add_argument(
        "--in-flight",
        type=counts,
        default=None,
        help="cancellation sizes (default 100,1000,10000; quick 100,1000)",
    )
    parser.add_argument(
        "--large-rounds",
        type=positive,
        default=1,
        help="rounds for cancellation sizes above 1,000 (default 1: set-up takes tens of s)",
    )
    parser.add_argument(
        "--setup-bound",
        type=float,
        default=180.0,
        help="cancellation: seconds to get K requests on the wire before a case is given up"
        " (httpcore's pool needs minutes for 10,000); default 180",
    )
    parser.add_argument("--memory-sizes", type=counts, default=[1000, 100_000])
    parser.add_argument(
        "--memory-transport",
        choices=["mock", "sockets"],
        default="sockets",
        help="sockets (default): the server on 127.0.0.1 (~3 min for both backends here);"
        " mock: httpx.MockTransport, the fetcher alone without a network (~30 s)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    opts = parser.parse_args(argv)
    rounds = opts.rounds or (3 if opts.quick else 5)
    if opts.backend:
        BACKENDS = (opts.backend,)
    results: dict[str, list[dict[str, Any]]] = {}
    # K in-flight requests hold K sockets here and K in the server process
    # (which inherits this limit): raise the soft limit as far as the hard one.
    sizes_wanted: list[int] = opts.in_flight or [10_000]
    fds = raise_fd_limit(max(sizes_wanted) + 1024)
    if fds < max(sizes_wanted) + 64:
        print(f"RLIMIT_NOFILE is {fds}: too few for {max(sizes_wanted)} in flight", file=sys.stderr)
    with BenchServer() as server:
        if opts.what in ("throughput", "all", "ratios"):
            n = opts.urls or (300 if opts.quick else 10_000)
            results["throughput"] = [
                row for conc in opts.concurrency for row in throughput(server, n, conc, rounds)
            ]
        if opts.what in ("cancel", "all", "ratios"):
            default_sizes = [100, 1000] if opts.quick or opts.what == "ratios" else None
            sizes = opts.in_flight or default_sizes or [100, 1000, 10_000]
            variants = opts.variants or (
                ["plain", "given", "owned"] if opts.what == "ratios" else list(CANCEL_ORDER)
            )
            results["cancel"] = cancel(
                server,
                sizes,
                1 if opts.quick else rounds,
                variants,
                opts.setup_bound,
                large_rounds=opts.large_rounds,
            )
        if opts.what in ("memory", "all"):
            sizes = opts.memory_sizes
            if opts.quick:
                sizes = [min(k, 20_000) for k in sizes]
            results["memory"] = memory(server, sizes, 64, opts.memory_transport)
    print_tables(results)
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
