"""Where the cancellation time goes: the socket floor, plain httpx, and the fetcher.

Why: "httpcore's pool is quadratic" was a profile of one variant on a loaded
machine. This script measures, side by side and against the same
out-of-process server (``_http_server.py``; ``/hang`` never answers), the
time from the cancel to the block's exit for

* ``floor``: N raw anyio TCP streams, each with a task blocked in
  ``receive()`` after sending ``GET /hang``, in one task group: what
  delivering N cancellations and closing N sockets costs on this machine,
  with no HTTP library at all;
* ``floor-asyncio`` (asyncio only): the same without anyio: N bare
  ``asyncio.Protocol`` connections, each with a task awaiting a future,
  ``Task.cancel()`` on each and ``transport.abort()`` as it unwinds: the
  least any asyncio code can pay for N cancellations and N closes;
* ``floor-close`` (run once, under asyncio): no event loop work at all: N
  blocking sockets, each having sent ``GET /hang``, closed one after another
  by ``close(2)``: what the kernel alone charges for N closes, below which
  no code that closes its sockets can go;
* ``floor-tasks`` (asyncio only): the same sockets, each held by an asyncio
  task parked on a future that closes it as it unwinds; ``Task.cancel()``
  on each: the least a task per fetch costs, with no transport and no
  library;
* ``plain``: N bare ``client.get`` tasks in a task group over one
  ``httpx.AsyncClient`` (httpx's transport and pool): what httpx itself costs;
* ``given``: ``DataFetcher(client, max_concurrency=N)`` over such a client;
* ``owned``: ``DataFetcher(None, max_concurrency=N)``, the fetcher's own
  client (also httpx's transport and pool);

and, with ``--profile``, runs cProfile from the cancel to the exit only and
prints the functions that take the time.

Run:  .venv/bin/python benchmarks/cancel_profile.py [--in-flight 100,1000]
      [--backend asyncio|trio] [--variants floor,plain,given,owned] [--rounds 3]
      [--profile] [--top 18]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import resource
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _http_server import BenchServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fetcher import DataFetcher

VARIANTS = (
    "floor-close",
    "floor-tasks",
    "floor",
    "floor-asyncio",
    "plain",
    "given",
    "owned",
)
ASYNCIO_ONLY = frozenset({"floor-asyncio", "floor-close", "floor-tasks"})
"""Run under asyncio only: they use no anyio, or no event loop, so a second backend adds nothing."""


def counts(spec: str) -> list[int]:
    """argparse type: "100,1000" -> [100, 1000]; anything else is a usage error, not a traceback."""
    try:
        got = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        got = []
    if not got or min(got) < 1:
        raise argparse.ArgumentTypeError(f"{spec!r}: want positive whole numbers, e.g. 100,1000")
    return got


def positive(spec: str) -> int:
    """argparse type: one count (rounds, URLs), at least 1."""
    try:
        got = int(spec)
    except ValueError:
        got = 0
    if got < 1:
        raise argparse.ArgumentTypeError(f"{spec!r}: want one positive whole number")
    return got


def variant_names(spec: str) -> list[str]:
    """argparse type: a comma-separated subset of VARIANTS, checked before any run starts."""
    got = [v.strip() for v in spec.split(",") if v.strip()]
    unknown = [v for v in got if v not in VARIANTS]
    if not got or unknown:
        named = ", ".join(unknown) or "(none given)"
        raise argparse.ArgumentTypeError(
            f"unknown variant(s) {named}; choose from {', '.join(VARIANTS)}"
        )
    return got


class Sample(NamedTuple):
    """One cancel, in seconds."""

    exit: float  # cancel -> the block's exit returned (client clock)
    closed: float  # cancel -> the server process saw its last connection close
    setup: float  # start -> all N requests hanging on the server
    cpu: float  # user+sys of this process from the cancel to the exit
    gc: float  # of the exit time, spent in the garbage collector


class GcClock:
    """Time spent in the garbage collector while armed (``gc.callbacks``).

    Why: a cancel of N tasks allocates N exceptions and tracebacks at once,
    and a collection that lands in the cancel phase is charged by cProfile to
    whatever frame happens to run; this says how much of the phase it was.
    """

    def __init__(self) -> None:
        self.armed = False
        self.total = 0.0
        self.collections = [0, 0, 0]
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if not self.armed:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._start
            self.collections[info["generation"]] += 1

    def reset(self) -> None:
        self.total, self.collections = 0.0, [0, 0, 0]


GC = GcClock()
NO_GC = False


def raise_fd_limit(need: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards *need* (at most the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return int(soft)


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(300.0),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
    )


async def _wait_hanging(server: BenchServer, base: int, k: int, bound: float) -> float:
    c = server.counters
    deadline = time.monotonic() + bound
    while c.hanging.value - base < k:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {c.hanging.value - base} of {k} in flight after {bound:g} s")
        await anyio.sleep(0.005)
    return time.monotonic()


async def one_case(
    server: BenchServer, variant: str, k: int, profile: cProfile.Profile | None, bound: float
) -> Sample:
    """Set up N hanging requests of *variant*, cancel them, time it (see Sample).

    The CPU time (user+sys of this process) is what other tenants of a shared
    machine disturb least; the wall times are the latency itself.
    """
    c = server.counters
    base = c.hanging.value
    host, port = server.base.removeprefix("http://").split(":")
    url = server.url("/hang")
    t_setup = time.monotonic()
    t0 = t1 = 0.0
    cpu = [0.0, 0.0]

    async def cancel_now(scope: anyio.CancelScope) -> None:
        nonlocal t0
        t0 = await _wait_hanging(server, base, k, bound)
        cpu[0] = time.process_time()
        GC.reset()
        GC.armed = True
        if NO_GC:
            gc.disable()
        if profile is not None:
            profile.enable()
        scope.cancel()

    async def bare_asyncio() -> None:
        loop = asyncio.get_running_loop()

        async def one(i: int) -> None:
            transport, protocol = await loop.create_connection(_Hang, host, int(port))
            try:
                transport.write(b"GET /hang?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                await protocol.lost
            finally:
                transport.abort()

        tasks = [loop.create_task(one(i)) for i in range(k)]
        try:
            await cancel_now(anyio.CancelScope())  # only for the clocks: nothing is inside it
            for task in tasks:
                task.cancel()
        finally:
            ends = await asyncio.gather(*tasks, return_exceptions=True)
        if not all(isinstance(end, asyncio.CancelledError) for end in ends):
            raise RuntimeError(f"not every task ended cancelled: {set(map(repr, ends))}")

    async def bare_close(with_tasks: bool) -> None:
        loop = asyncio.get_running_loop()
        socks: list[socket.socket] = []

        async def park(sock: socket.socket) -> None:
            try:
                await loop.create_future()
            finally:
                sock.close()

        tasks: list[asyncio.Task[None]] = []
        try:
            for i in range(k):  # blocking connects: nothing else runs meanwhile, on purpose
                sock = socket.create_connection((host, int(port)), timeout=bound)
                socks.append(sock)
                sock.sendall(b"GET /hang?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            if with_tasks:
                tasks = [loop.create_task(park(sock)) for sock in socks]
                await asyncio.sleep(0)  # one pass: every task is parked before the cancel
            await cancel_now(anyio.CancelScope())  # only for the clocks, as in bare_asyncio
            for task in tasks:
                task.cancel()
        finally:
            await asyncio.gather(*tasks, return_exceptions=True)
            for sock in socks:
                sock.close()  # the tasks closed theirs already; a second close is a no-op

    async def raw(i: int) -> None:
        stream = await anyio.connect_tcp(host, int(port))
        async with stream:
            await stream.send(b"GET /hang?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            await stream.receive()

    client = _client() if variant in ("plain", "given") else None
    try:
        with anyio.CancelScope() as scope:
            try:
                if variant == "floor-asyncio":
                    await bare_asyncio()
                elif variant in ("floor-close", "floor-tasks"):
                    await bare_close(with_tasks=variant == "floor-tasks")
                elif variant == "floor":
                    async with anyio.create_task_group() as tg:
                        for i in range(k):
                            tg.start_soon(raw, i)
                        await cancel_now(scope)
                elif variant == "plain":
                    assert client is not None
                    async with anyio.create_task_group() as tg:
                        for i in range(k):
                            tg.start_soon(client.get, f"{url}?i={i}")
                        await cancel_now(scope)
                else:
                    urls = [f"{url}?i={i}" for i in range(k)]
                    fetcher = DataFetcher(client, max_concurrency=k, timeout=300)
                    async with fetcher.fetch(urls) as results:
                        await cancel_now(scope)
                        async for _ in results:
                            pass
            finally:
                t1 = time.monotonic()
                cpu[1] = time.process_time()
                GC.armed = False
                gc.enable()
                if profile is not None:
                    profile.disable()
    finally:
        if client is not None:
            await client.aclose()
    if variant not in ASYNCIO_ONLY and not scope.cancelled_caught:
        raise RuntimeError("the cancel did not end the block")
    if not server.wait_closed(120):
        raise RuntimeError(f"server still has {c.open.value} connections open")
    return Sample(t1 - t0, c.last_zero.value - t0, t0 - t_setup, cpu[1] - cpu[0], GC.total)


class _Hang(asyncio.Protocol):
    """A client connection that only waits: ``lost`` resolves when it closes."""

    def __init__(self) -> None:
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--in-flight", type=counts, default=[100, 1000])
    p.add_argument("--backend", default="asyncio,trio")
    p.add_argument("--variants", type=variant_names, default=list(VARIANTS))
    p.add_argument("--rounds", type=positive, default=3)
    p.add_argument("--setup-bound", type=float, default=120.0, help="seconds to get N out")
    p.add_argument("--profile", action="store_true", help="cProfile the cancel phase (1 run)")
    p.add_argument("--top", type=int, default=18)
    p.add_argument(
        "--no-gc",
        action="store_true",
        help="diagnostic: hold the garbage collector off from the cancel to the exit",
    )
    opts = p.parse_args(argv)
    global NO_GC
    NO_GC = opts.no_gc
    sizes: list[int] = opts.in_flight
    variants: list[str] = opts.variants
    limit = raise_fd_limit(2 * max(sizes) + 256)
    print(f"RLIMIT_NOFILE soft {limit}", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    with BenchServer() as server:
        for backend in opts.backend.split(","):
            for k in sizes:
                for variant in variants:
                    if backend != "asyncio" and variant in ASYNCIO_ONLY:
                        continue
                    samples: list[Sample] = []
                    runs = 1 if opts.profile else opts.rounds
                    for _ in range(runs):
                        server.wait_closed()
                        prof = cProfile.Profile() if opts.profile else None
                        try:
                            got = anyio.run(
                                one_case,
                                server,
                                variant,
                                k,
                                prof,
                                opts.setup_bound,
                                backend=backend,
                            )
                        except RuntimeError as exc:
                            print(f"{backend} {variant} {k}: {exc}", file=sys.stderr)
                            server.wait_closed(300)
                            break
                        samples.append(got)
                        print(
                            f"{backend:7} {variant:8} {k:6}: exit {got[0] * 1e3:9.2f} ms"
                            f" (cpu {got[3] * 1e3:8.2f} ms)"
                            f"  closed {got[1] * 1e3:9.2f} ms  set-up {got[2]:6.2f} s"
                            f"  gc {got.gc * 1e3:7.2f} ms {GC.collections}",
                            file=sys.stderr,
                            flush=True,
                        )
                        if prof is not None:
                            out = io.StringIO()
                            stats = pstats.Stats(prof, stream=out)
                            stats.sort_stats("tottime").print_stats(opts.top)
                            stats.sort_stats("cumulative").print_stats(opts.top)
                            print(f"--- profile {backend} {variant} {k} ---")
                            print(_trim(out.getvalue()))
                    if samples:
                        exits = [s[0] * 1e3 for s in samples]
                        closed = [s[1] * 1e3 for s in samples]
                        rows.append(
                            {
                                "backend": backend,
                                "variant": variant,
                                "in_flight": k,
                                "exit_ms": statistics.median(exits),
                                "cpu_ms": statistics.median(s[3] * 1e3 for s in samples),
                                "closed_ms": statistics.median(closed),
                            }
                        )
    print(
        "| backend | variant | in flight | to exit (median) | per 100 | CPU in the phase |"
        " to server closed |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['variant']} | {r['in_flight']} | {r['exit_ms']:.2f} ms |"
            f" {r['exit_ms'] / r['in_flight'] * 100:.3f} ms | {r['cpu_ms']:.2f} ms |"
            f" {r['closed_ms']:.2f} ms |"
        )
    return 0


def _trim(text: str) -> str:
    """pstats output without its blank preamble, paths shortened to the package."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(ln.replace(str(Path(sys.prefix)), "<venv>") for ln in lines)


if __name__ == "__main__":
    raise SystemExit(main())
