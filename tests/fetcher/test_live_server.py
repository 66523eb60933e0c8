"""The scenarios again, over real sockets against a real uvicorn server.

The fake web proves the logic; this proves the network: after leaving the
block, the server sees every connection closed and no handler running. The
server's counts come from its protocol's own connection_made/connection_lost,
waited on with a generous bound (the server thread needs a moment to notice
a FIN); the client side is asserted at the instant the block is left.
"""

from __future__ import annotations

import random

import anyio
import httpx
import pytest

from fetcher import BodyTooLargeError, DataFetcher, Result
from pytest_leakcheck import LeakChecker

from .mocks import DEADLINE
from .probes import Baseline, assert_own_tasks_back, baseline
from .server import LiveServer

pytestmark = pytest.mark.anyio

ROUNDS = 25


async def assert_settled(leakcheck: LeakChecker, base: Baseline, server: LiveServer) -> None:
    """The client at the instant it left; then the server; then every thread and task.

    The plugin sees every asyncio loop, the server's too, and a server
    handler only ends once the server thread has noticed the disconnect.
    So at the instant the block is left we check the client's own loop,
    and the process-wide check (no grace, still) comes once the server has
    seen every connection closed.
    """
    assert_own_tasks_back(base)
    assert_server_idle(server)
    await leakcheck.assert_no_leaks_async(base.snapshot, timeout=0)


def assert_server_idle(server: LiveServer) -> None:
    stats = server.stats
    assert stats.wait_idle(), (
        f"server still sees {stats.connections_open} connection(s), {stats.in_flight} request(s)"
    )


async def test_forgotten_sender_over_sockets(server: LiveServer, leakcheck: LeakChecker) -> None:
    base = baseline(leakcheck)
    urls = [server.url("/ok")] + [server.url("/hang")] * 49
    async with DataFetcher().fetch(urls) as results:
        async for r in results:
            assert r.body == b"ok"
            break
    await assert_settled(leakcheck, base, server)
    assert server.stats.requests == 50  # they were all really in flight


async def test_cancel_right_after_entering_over_sockets(
    server: LiveServer, leakcheck: LeakChecker
) -> None:
    base = baseline(leakcheck)
    with anyio.CancelScope() as scope:
        async with DataFetcher(max_concurrency=10).fetch([server.url("/hang")] * 30) as results:
            scope.cancel()
            async for _ in results:
                pytest.fail("no result can arrive")
    assert scope.cancelled_caught
    await assert_settled(leakcheck, base, server)


async def test_close_discipline_over_sockets(server: LiveServer, leakcheck: LeakChecker) -> None:
    base = baseline(leakcheck)
    paths = ["/ok", "/slow?delay=0.002", "/hang", "/drip?chunks=5&delay=0.001", "/status/503"]
    jitter = (0.0, 0.0, 0.001, 0.003, 0.01)
    for round_ in range(ROUNDS):
        rng = random.Random(1700 + round_)
        urls = [server.url(rng.choice(paths)) for _ in range(rng.randint(1, 10))]
        outer, inner = anyio.CancelScope(), anyio.CancelScope()
        stop_after = rng.randint(1, 10)

        async def consumer(
            urls: list[str] = urls,
            outer: anyio.CancelScope = outer,
            inner: anyio.CancelScope = inner,
            stop_after: int = stop_after,
            deadline: float = rng.choice(jitter),
        ) -> None:
            with outer, anyio.move_on_after(deadline), inner:
                async with DataFetcher(max_concurrency=4).fetch(urls) as results:
                    seen = 0
                    async for _ in results:
                        seen += 1
                        if seen >= stop_after:
                            break

        async def cancel_later(scope: anyio.CancelScope, delay: float) -> None:
            await anyio.sleep(delay)
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(consumer)
            tg.start_soon(cancel_later, outer, rng.choice(jitter))
            tg.start_soon(cancel_later, inner, rng.choice(jitter))
            tg.start_soon(cancel_later, inner, rng.choice(jitter))
        await assert_settled(leakcheck, base, server)


async def test_given_client_keeps_only_idle_connections(
    server: LiveServer, leakcheck: LeakChecker
) -> None:
    """A cancelled request's connection is closed; the caller's pool keeps the rest."""
    async with httpx.AsyncClient() as client:
        base = baseline(leakcheck)
        async with DataFetcher(client).fetch([server.url("/ok")] + [server.url("/hang")] * 5) as rs:
            async for r in rs:
                assert r.body == b"ok"
                break
        assert_own_tasks_back(base)
        assert server.stats.wait_for(lambda s: s.in_flight == 0 and s.connections_open <= 1)
        await leakcheck.assert_no_leaks_async(base.snapshot, timeout=0)
        assert not client.is_closed
    assert_server_idle(server)


async def test_failures_over_sockets(server: LiveServer) -> None:
    fetcher = DataFetcher(timeout=DEADLINE, max_body_size=100_000, allowed_schemes={"http"})
    expected: dict[str, type[Exception]] = {
        "/status/503": httpx.HTTPStatusError,
        "/status/404": httpx.HTTPStatusError,
        "/reset": httpx.RemoteProtocolError,
        "/loop": httpx.TooManyRedirects,
        "/endless": BodyTooLargeError,
        "/hang": httpx.TimeoutException,
        f"/redirect?to=https://127.0.0.1:{server.url('').rsplit(':', 1)[1]}/ok": (
            httpx.UnsupportedProtocol
        ),
    }
    urls = [server.url(p) for p in expected] + [server.url("/ok"), server.url("/drip?chunks=4")]
    async with fetcher.fetch(urls) as results:
        got: dict[str, Result] = {r.url: r async for r in results}
    for path, kind in expected.items():
        r = got[server.url(path)]
        assert isinstance(r.error, kind), (path, r.error)
        assert r.body is None
    assert got[server.url("/ok")].body == b"ok"
    assert got[server.url("/drip?chunks=4")].body == b"d" * 40
    assert_server_idle(server)


async def test_peak_in_flight_over_sockets(server: LiveServer) -> None:
    urls = [server.url("/slow?delay=0.01")] * 24
    async with DataFetcher(max_concurrency=6).fetch(urls) as results:
        assert len([r async for r in results if r.ok]) == 24
    assert server.stats.peak_in_flight <= 6
    assert_server_idle(server)
