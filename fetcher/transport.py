"""The transport of the fetcher's own client: one connection per request, no shared queue.

Why not httpx's default transport: it sends every request through one
``httpcore.AsyncConnectionPool`` (httpcore 1.0.9), which keeps all pending
requests in one list and, on every enqueue and on every cancellation, rescans
that list and every connection (``_assign_requests_to_connections``,
``is_queued()`` per request, ``list.remove``): O(N) per event, O(N²) for N
requests in flight. With 1,000 fetches hanging that is 499,500 ``is_queued()``
calls just to cancel them, and with 10,000 the pool could not even put the
requests on the wire within minutes.

The fetcher does not need that queue: its workers already bound concurrency
(one request per worker at a time), so this transport gives each request a
connection of its own at once and never makes one wait for another:

* an idle keep-alive connection to the same origin if there is one (a stack
  per origin, last released first, so the warmest socket is reused), else a
  new ``httpcore.AsyncHTTPConnection`` (httpcore's public single-connection
  class: HTTP/1.1, TLS with the context httpx would build by default,
  connect/read/write timeouts from the request, as in httpx's own transport);
* the connection is the request's alone until its response is closed; then
  it goes back on its origin's idle stack if httpcore left it reusable (the
  whole response was read), otherwise it is already closed and forgotten;
* a failed or cancelled request's connection is closed by httpcore itself
  (shielded, in ``AsyncHTTP11Connection``), so the cancel path here only
  drops it from a set: no queue, no rescan, no extra scope, O(1).

Every step is O(1), so cancelling N requests costs N times one request.
Idle connections are capped at ``max_keepalive`` (the fetcher passes its
worker count: never more are busy at once) and expire after
``keepalive_expiry`` seconds like httpx's (checked when one is taken, as
httpcore does); ``aclose()`` closes every connection the transport still
holds, busy ones included. Redirects, cookies, auth, event hooks and the
client's timeouts stay in ``httpx.AsyncClient`` above this. Proxies are
not: httpx ignores ``HTTP_PROXY`` & co. for a client given a transport, so
the fetcher uses this one only when the environment sets no proxy.
httpcore's exceptions are mapped to httpx's of the same name, as httpx's
transport does. HTTP/2 is not offered (httpx's default is HTTP/1.1 only).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable, AsyncIterator

import anyio
import httpcore
import httpx

__all__ = ["FetcherTransport"]

_Key = tuple[bytes, bytes, int]

_CLOSE_GRACE = 5.0
"""Seconds a shielded close of a connection may take (a backstop, as in fetch_one)."""

# httpcore's exceptions and the httpx exceptions of the same names. httpx's
# own table is private (httpx._transports.default), so it is rebuilt here from
# the public names; the most specific match wins, as in httpx.
_MAPPED = (
    "TimeoutException",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "NetworkError",
    "ConnectError",
    "ReadError",
    "WriteError",
    "ProxyError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "UnsupportedProtocol",
)
_EXCEPTIONS: dict[type[BaseException], type[httpx.HTTPError]] = {
    getattr(httpcore, name): getattr(httpx, name) for name in _MAPPED
}


def _mapped(exc: Exception) -> Exception:
    """The httpx exception for an httpcore one (chained to it); anything else as is."""
    for cls in type(exc).__mro__:
        target = _EXCEPTIONS.get(cls)
        if target is not None:
            mapped = target(str(exc))
            mapped.__cause__ = exc
            return mapped
    return exc


class FetcherTransport(httpx.AsyncBaseTransport):
    """An httpx transport with a connection per request and an idle stack per origin."""

    def __init__(
        self,
        *,
        max_keepalive: int = 20,
        keepalive_expiry: float | None = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_keepalive < 0:
            raise ValueError(f"max_keepalive must be >= 0, got {max_keepalive!r}")
        # httpx's default context (certifi, SSL_CERT_FILE/SSL_CERT_DIR honoured),
        # as httpx.AsyncClient() would build for its own transport.
        self._ssl_context = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        self._max_keepalive = max_keepalive
        self._keepalive_expiry = keepalive_expiry
        # Keyed by (scheme, host, port): httpcore.Origin compares but does not hash.
        self._idle: dict[_Key, list[httpcore.AsyncHTTPConnection]] = {}
        self._idle_count = 0
        # Every connection not yet known to be closed, busy or idle: what
        # aclose() must close.
        self._open: set[httpcore.AsyncHTTPConnection] = set()
        self._closed = False

    @property
    def open_connections(self) -> int:
        """Connections held (busy or idle) and not known to be closed."""
        return len(self._open)

    @property
    def idle_connections(self) -> int:
        """Idle keep-alive connections waiting for their origin's next request."""
        return self._idle_count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport has been closed")
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        connection = await self._take(core_request.url.origin)
        try:
            response = await connection.handle_async_request(core_request)
        except BaseException as exc:
            # httpcore has closed the connection (or never opened it): forget
            # it. Only if it somehow is still open does it need closing here.
            if connection.is_closed():
                self._open.discard(connection)
            else:
                await self._close(connection)
            if isinstance(exc, Exception):
                mapped = _mapped(exc)
                if mapped is not exc:
                    raise mapped from exc
            raise
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, connection, core_request.url.origin, self),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every connection still held, busy or idle; the transport is then unusable."""
        self._closed = True
        connections = list(self._open)
        self._open.clear()
        self._idle.clear()
        self._idle_count = 0
        with anyio.move_on_after(_CLOSE_GRACE, shield=True):
            for connection in connections:
                await connection.aclose()

    async def _take(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        key = (origin.scheme, origin.host, origin.port)
        stack = self._idle.get(key)
        while stack:
            connection = stack.pop()
            self._idle_count -= 1
            if not stack:
                del self._idle[key]
            # Expired, or the server closed it while idle (readable socket).
            if connection.has_expired() or not connection.is_available():
                await self._close(connection)
                stack = self._idle.get(key)
                continue
            return connection
        connection = httpcore.AsyncHTTPConnection(
            origin=origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=self._keepalive_expiry,
        )
        self._open.add(connection)
        return connection

    async def _release(
        self, connection: httpcore.AsyncHTTPConnection, origin: httpcore.Origin
    ) -> None:
        """After its response is closed: back to the idle stack, or gone."""
        if connection.is_closed():
            self._open.discard(connection)
        elif (
            connection.is_available()
            and not self._closed
            and self._idle_count < self._max_keepalive
        ):
            self._idle.setdefault((origin.scheme, origin.host, origin.port), []).append(connection)
            self._idle_count += 1
        else:
            await self._close(connection)

    async def _close(self, connection: httpcore.AsyncHTTPConnection) -> None:
        self._open.discard(connection)
        with anyio.move_on_after(_CLOSE_GRACE, shield=True):
            await connection.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    """httpcore's body stream with exceptions mapped; closing it releases the connection."""

    def __init__(
        self,
        stream: AsyncIterable[bytes],
        connection: httpcore.AsyncHTTPConnection,
        origin: httpcore.Origin,
        transport: FetcherTransport,
    ) -> None:
        self._stream = stream
        self._connection = connection
        self._origin = origin
        self._transport = transport
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            mapped = _mapped(exc)
            if mapped is not exc:
                raise mapped from exc
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            aclose = getattr(self._stream, "aclose", None)
            if aclose is not None:
                await aclose()  # httpcore: back to IDLE if the body was read, else closed
        except Exception as exc:
            mapped = _mapped(exc)
            if mapped is not exc:
                raise mapped from exc
            raise
        finally:
            await self._transport._release(self._connection, self._origin)
