"""FetcherTransport, the fetcher's own client's transport, over real sockets.

It replaces httpx's pooled transport for ``DataFetcher(client=None)`` (see
``fetcher/transport.py`` for why), so it must keep what that transport gave:
keep-alive reuse, no connection left open, httpx's exception types, httpx's
TLS defaults, and redirects, timeouts and the size limit handled above it.
The server counts connections from its protocol's own callbacks.
"""

from __future__ import annotations

import ssl

import anyio
import httpx
import pytest

from fetcher import BodyTooLargeError, DataFetcher
from fetcher.transport import FetcherTransport

from .server import LiveServer

pytestmark = pytest.mark.anyio


def _client(transport: FetcherTransport, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, **kwargs)  # type: ignore[arg-type]


def _server_idle(server: LiveServer) -> bool:
    return server.stats.wait_idle()


async def _until_in_flight(server: LiveServer, count: int, timeout: float = 10.0) -> None:
    """Poll (not block: the requests need this loop to get out) until *count* are in flight."""
    with anyio.fail_after(timeout):
        while server.stats.in_flight < count:
            await anyio.sleep(0.01)


def _opened_since(server: LiveServer, before: int) -> int:
    """Connections the server accepted since *before* (its count is module-wide)."""
    return server.stats.connections_total - before


async def test_keep_alive_reuses_one_connection(server: LiveServer) -> None:
    before = server.stats.connections_total
    transport = FetcherTransport(max_keepalive=4)
    async with _client(transport) as client:
        for _ in range(5):
            response = await client.get(server.url("/ok"))
            assert response.content == b"ok"
        assert transport.idle_connections == 1
        assert transport.open_connections == 1
        assert _opened_since(server, before) == 1
    assert transport.open_connections == 0
    assert _server_idle(server)


async def test_concurrent_requests_get_their_own_connections(server: LiveServer) -> None:
    """No queue: ten at once are ten connections; only max_keepalive stay afterwards."""
    before = server.stats.connections_total
    transport = FetcherTransport(max_keepalive=3)
    async with _client(transport) as client:
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(client.get, server.url("/slow?delay=0.5"))
        assert server.stats.peak_in_flight == 10
        assert _opened_since(server, before) == 10
        assert transport.idle_connections == 3
        assert transport.open_connections == 3
        assert server.stats.wait_for(lambda s: s.connections_open == 3)
    assert _server_idle(server)


async def test_cancelled_requests_leave_no_connection(server: LiveServer) -> None:
    transport = FetcherTransport()
    async with _client(transport) as client:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(client.get, server.url("/hang"))
                await _until_in_flight(server, 20)
                scope.cancel()
        assert scope.cancelled_caught
        # httpcore closed each socket as its request unwound; nothing is held.
        assert transport.open_connections == 0
        assert transport.idle_connections == 0
        assert _server_idle(server)


async def test_unread_body_is_not_reused(server: LiveServer) -> None:
    before = server.stats.connections_total
    transport = FetcherTransport()
    async with _client(transport) as client:
        async with client.stream("GET", server.url("/drip?chunks=5&delay=0.05")) as response:
            async for _ in response.aiter_raw():
                break  # leave with most of the body unread
        assert transport.open_connections == 0
        assert (await client.get(server.url("/ok"))).content == b"ok"
        assert _opened_since(server, before) == 2
    assert _server_idle(server)


async def test_expired_idle_connection_is_replaced(server: LiveServer) -> None:
    before = server.stats.connections_total
    transport = FetcherTransport(keepalive_expiry=0.05)
    async with _client(transport) as client:
        assert (await client.get(server.url("/ok"))).content == b"ok"
        await anyio.sleep(0.15)
        assert (await client.get(server.url("/ok"))).content == b"ok"
        assert _opened_since(server, before) == 2
        assert server.stats.wait_for(lambda s: s.connections_open == 1)
    assert _server_idle(server)


async def test_httpcore_errors_become_httpx_errors(server: LiveServer) -> None:
    transport = FetcherTransport()
    async with _client(transport) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url("/hang"), timeout=0.2)
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url("/reset"))
        # TLS spoken to a plain-HTTP port: the handshake fails, as a ConnectError.
        with pytest.raises(httpx.ConnectError):
            await client.get(server.url("/ok").replace("http://", "https://"))
        assert transport.open_connections == 0
    with socket_closed_port() as port:
        async with _client(FetcherTransport()) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/")
    assert _server_idle(server)


async def test_closed_transport_refuses_requests(server: LiveServer) -> None:
    transport = FetcherTransport()
    await transport.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", server.url("/ok")))


async def test_aclose_closes_busy_connections(server: LiveServer) -> None:
    """A response nobody closed still has its socket closed with the transport."""
    transport = FetcherTransport()
    client = _client(transport)
    request = client.build_request("GET", server.url("/drip?chunks=50&delay=0.05"))
    response = await client.send(request, stream=True)
    assert transport.open_connections == 1
    await client.aclose()
    assert transport.open_connections == 0
    assert _server_idle(server)
    await response.aclose()  # harmless afterwards


def test_tls_defaults_are_httpx_defaults() -> None:
    context = FetcherTransport()._ssl_context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    default = httpx.create_ssl_context()
    assert context.minimum_version == default.minimum_version
    assert len(context.get_ca_certs()) == len(default.get_ca_certs())


def test_max_keepalive_is_checked() -> None:
    with pytest.raises(ValueError, match="max_keepalive"):
        FetcherTransport(max_keepalive=-1)


# -- through DataFetcher(client=None) ---------------------------------------------


async def test_own_client_reuses_connections_across_workers(server: LiveServer) -> None:
    before = server.stats.connections_total
    async with DataFetcher(max_concurrency=3).fetch([server.url("/ok")] * 30) as results:
        assert [r.body async for r in results] == [b"ok"] * 30
    assert _opened_since(server, before) <= 3
    assert _server_idle(server)


async def test_own_client_follows_redirects_on_one_connection(server: LiveServer) -> None:
    before = server.stats.connections_total
    async with DataFetcher(max_concurrency=1).fetch([server.url("/redirect?to=/ok")]) as results:
        [r] = [r async for r in results]
    assert r.body == b"ok"
    assert server.stats.requests == 2
    assert _opened_since(server, before) == 1
    assert _server_idle(server)


async def test_own_client_limits_hold(server: LiveServer) -> None:
    fetcher = DataFetcher(max_concurrency=2, timeout=0.3, max_body_size=1000)
    urls = [server.url("/ok?size=2000"), server.url("/hang"), server.url("/ok?size=10")]
    async with fetcher.fetch(urls) as results:
        got = {r.url: r async for r in results}
    assert isinstance(got[urls[0]].error, BodyTooLargeError)
    assert isinstance(got[urls[1]].error, httpx.TimeoutException)
    assert got[urls[2]].body == b"x" * 10
    assert _server_idle(server)


async def test_own_client_cancel_closes_everything(server: LiveServer) -> None:
    with anyio.CancelScope() as scope:
        async with DataFetcher(max_concurrency=30).fetch([server.url("/hang")] * 30) as results:
            await _until_in_flight(server, 30)
            scope.cancel()
            async for _ in results:
                pass
    assert scope.cancelled_caught
    assert _server_idle(server)


class socket_closed_port:
    """A local port with nothing listening (bound, then released)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None


async def test_own_client_honours_a_proxy_from_the_environment(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx reads HTTP_PROXY & co. only when it builds the client's transport
    # itself: with a proxy set, the own client must not bring FetcherTransport.
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url("/").rstrip("/"))
    before = len(server.stats.paths)
    async with DataFetcher(max_concurrency=1).fetch(["http://proxied.invalid/ok"]) as results:
        [result] = [r async for r in results]
    # The request reached the proxy (our server), not a DNS failure for .invalid.
    assert not isinstance(result.error, httpx.ConnectError), result.error
    assert any("proxied.invalid" in path or path == "/ok" for path in server.stats.paths[before:])
