"""``DataFetcher(client=None)``: the own client is httpx's, over real sockets.

The fetcher opens an ``httpx.AsyncClient`` for the block (httpx's transport
and pool) and closes it on exit. It must reuse connections across workers,
follow redirects (checking each hop), apply the limits, close everything when
cancelled, and honour proxies from the environment as httpx does. The server
counts connections from its protocol's own callbacks.
"""

from __future__ import annotations

import anyio
import httpx
import pytest

from fetcher import BodyTooLargeError, DataFetcher

from .mocks import WAIT
from .server import LiveServer

pytestmark = pytest.mark.anyio


def _opened_since(server: LiveServer, before: int) -> int:
    """Connections the server accepted since *before* (its count is module-wide)."""
    return server.stats.connections_total - before


async def test_own_client_reuses_connections_across_workers(server: LiveServer) -> None:
    before = server.stats.connections_total
    async with DataFetcher(max_concurrency=3).fetch([server.url("/ok")] * 30) as results:
        assert [r.body async for r in results] == [b"ok"] * 30
    assert _opened_since(server, before) <= 3
    assert server.stats.wait_idle()


async def test_own_client_follows_redirects_on_one_connection(server: LiveServer) -> None:
    before = server.stats.connections_total
    async with DataFetcher(max_concurrency=1).fetch([server.url("/redirect?to=/ok")]) as results:
        [r] = [r async for r in results]
    assert r.body == b"ok"
    assert server.stats.requests == 2
    assert _opened_since(server, before) == 1
    assert server.stats.wait_idle()


async def test_own_client_limits_hold(server: LiveServer) -> None:
    """The size limit and the deadline, each in a block of its own.

    The deadline is the only thing that can end ``/hang``, so it is the one
    timed case; the size limit gets no deadline at all, so no load on the
    machine can turn its result into a timeout.
    """
    big, small = server.url("/ok?size=2000"), server.url("/ok?size=10")
    async with DataFetcher(max_concurrency=2, timeout=None, max_body_size=1000).fetch(
        [big, small]
    ) as results:
        got = {r.url: r async for r in results}
    assert isinstance(got[big].error, BodyTooLargeError)
    assert got[small].body == b"x" * 10
    async with DataFetcher(timeout=0.2).fetch([server.url("/hang")]) as results:
        [hung] = [r async for r in results]
    assert isinstance(hung.error, httpx.TimeoutException)
    assert server.stats.wait_idle()


async def test_own_client_cancel_closes_everything(server: LiveServer) -> None:
    with anyio.CancelScope() as scope:
        async with DataFetcher(max_concurrency=30).fetch([server.url("/hang")] * 30) as results:
            with anyio.fail_after(WAIT):  # poll: the requests need this loop to get out
                while server.stats.in_flight < 30:
                    await anyio.sleep(0.01)
            scope.cancel()
            async for _ in results:
                pass
    assert scope.cancelled_caught
    assert server.stats.wait_idle()


async def test_own_client_honours_a_proxy_from_the_environment(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx routes through ``HTTP_PROXY`` when it builds the transport itself, as here."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url("/").rstrip("/"))
    before = len(server.stats.paths)
    async with DataFetcher(max_concurrency=1).fetch(["http://proxied.invalid/ok"]) as results:
        [result] = [r async for r in results]
    # The request reached the proxy (our server), not a DNS failure for .invalid.
    assert not isinstance(result.error, httpx.ConnectError), result.error
    assert any("proxied.invalid" in path or path == "/ok" for path in server.stats.paths[before:])
    assert server.stats.wait_idle()
