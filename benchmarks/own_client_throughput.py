"""Throughput of DataFetcher(client=None) (FetcherTransport) beside a given httpx client.

Why: the cancellation work gave the fetcher's own client a transport of its
own (``fetcher.transport``); this checks what that does to throughput, over
the same out-of-process server as ``fetcher_bench.py``: the fetcher with a
given ``httpx.AsyncClient`` (httpx's pool, as in the throughput table) and
with its own client, alternating order each round; medians.

Run:  .venv/bin/python benchmarks/own_client_throughput.py [--urls 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _http_server import BenchServer
from fetcher_bench import UrlRange, run_fetcher

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fetcher import DataFetcher


async def run_own(urls: UrlRange, conc: int) -> int:
    ok = 0
    async with DataFetcher(None, max_concurrency=conc).fetch(urls) as results:
        async for r in results:
            ok += r.error is None
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--urls", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", default="100,10")
    opts = p.parse_args(argv)
    variants: list[tuple[str, Callable[[UrlRange, int], Awaitable[int]]]] = [
        ("DataFetcher, given client (httpx pool)", run_fetcher),
        ("DataFetcher, own client (FetcherTransport)", run_own),
    ]
    print("| backend | conc | variant                                    | median wall | req/s |")
    print("|---------|------|--------------------------------------------|-------------|-------|")
    with BenchServer() as server:
        urls = UrlRange(server.url("/ok"), opts.urls)
        for backend in ("asyncio", "trio"):
            for conc in (int(c) for c in opts.concurrency.split(",")):
                walls: dict[str, list[float]] = {name: [] for name, _ in variants}
                for r in range(opts.rounds):
                    for name, fn in variants if r % 2 == 0 else variants[::-1]:
                        server.wait_closed()
                        start = time.perf_counter()
                        got = anyio.run(fn, urls, conc, backend=backend)
                        walls[name].append(time.perf_counter() - start)
                        if got != opts.urls:
                            raise RuntimeError(f"{name}: {got} of {opts.urls} succeeded")
                for name, _ in variants:
                    wall = statistics.median(walls[name])
                    print(
                        f"| {backend:<7} | {conc:>4} | {name:<42} | {wall:>9.2f} s |"
                        f" {opts.urls / wall:>5.0f} |",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
