"""A real HTTP server for fetcher tests and benchmarks: uvicorn on 127.0.0.1.

Mocks prove the logic; this proves the sockets: that a cancelled fetch
really closes its connections. ``LiveServer`` serves a small ASGI app in a
background thread on a pre-bound free port, counts requests in flight and
open connections (from the protocol's own ``connection_made`` and
``connection_lost``, not from guesses), and stops and joins its thread on
exit. Reusable outside pytest::

    with LiveServer() as server:
        url = server.url("/slow?delay=0.5")

Endpoints (query parameters in brackets):

* ``/ok`` [size]: 200 with ``size`` bytes of ``x`` (default ``b"ok"``).
* ``/slow`` [delay]: 200 after ``delay`` seconds (default 60).
* ``/hang``: never answers; ends when the client goes away.
* ``/status/<code>``: that status, empty body.
* ``/drip`` [chunks, size, delay]: a body in chunks with pauses between them.
* ``/endless`` [size]: a body that never ends.
* ``/reset``: promises 1000 bytes, sends 10, drops the connection.
* ``/abort``: promises 1000 bytes, sends 10, then a TCP reset (RST, not FIN).
* ``/gzip-bomb`` [size, layers]: ``size`` zero bytes once decoded (default
  64 MiB), gzip-compressed ``layers`` times (default 1): 64 KiB on the wire,
  or under 1 KiB with two layers.
* ``/loop``: a redirect to itself, for ever.
* ``/redirect`` [to]: a 302 to ``to``.

Every handler that waits also watches for the client's disconnect and stops
then, so a cancelled client leaves nothing running on the server either.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import anyio
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["LiveServer", "ServerStats"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

START_TIMEOUT = 30.0
"""Generous: a loaded CI machine can take seconds to import and start."""


class ServerStats:
    """Counters shared between the server thread and the test thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.connections_open = 0
        self.connections_total = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests = 0
        self.paths: list[str] = []

    def _update(self, **deltas: int) -> None:
        with self._cond:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[ServerStats], bool], timeout: float = 10.0) -> bool:
        """Block until *predicate* holds (re-checked on every change)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until no request runs and no connection is open: a client that left is gone."""
        return self.wait_for(lambda s: s.in_flight == 0 and s.connections_open == 0, timeout)

    def reset_peak(self) -> None:
        with self._cond:
            self.peak_in_flight = self.in_flight
            self.requests = 0
            self.paths = []


class _Server(uvicorn.Server):
    """uvicorn.Server that says when it is ready, instead of being polled."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


Peer = tuple[str, int]


def _tracked_protocol(
    stats: ServerStats, transports: dict[Peer, asyncio.Transport]
) -> type[H11Protocol]:
    class TrackedH11(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            stats._update(connections_open=1, connections_total=1)
            # Keyed by the client's address, which the app sees as scope["client"]:
            # how /abort finds the socket to reset.
            transports[transport.get_extra_info("peername")[:2]] = transport
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            transports.pop(self.transport.get_extra_info("peername")[:2], None)
            stats._update(connections_open=-1)

    return TrackedH11


class LiveServer:
    """The server; a context manager. ``url(path)`` gives an absolute URL."""

    def __init__(self) -> None:
        self.stats = ServerStats()
        self._sock: socket.socket | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; no race
        host, port = sock.getsockname()
        self.base_url = f"http://{host}:{port}"
        transports: dict[Peer, asyncio.Transport] = {}
        config = uvicorn.Config(
            _App(self.stats, transports),
            lifespan="off",
            http=_tracked_protocol(self.stats, transports),
            ws="none",
            loop="asyncio",
            log_config=None,  # leave the test process's logging alone
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        server = _Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fetcher-live-server", daemon=True
        )
        self._sock, self._server, self._thread = sock, server, thread
        thread.start()
        if not server.ready.wait(START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"the test server did not start within {START_TIMEOUT} s")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(START_TIMEOUT)
            if self._thread.is_alive():
                raise RuntimeError("the test server thread did not stop")
        if self._sock is not None:
            self._sock.close()
        self._sock = self._server = self._thread = None

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _App:
    """The ASGI app behind LiveServer (endpoints in the module docstring)."""

    def __init__(self, stats: ServerStats, transports: dict[Peer, asyncio.Transport]) -> None:
        self.stats = stats
        self.transports = transports

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
        path: str = scope["path"]
        self.stats._update(in_flight=1, requests=1)
        with self.stats._cond:
            self.stats.paths.append(path)
        try:
            await _until_disconnect(receive, lambda: self._route(path, query, send, scope))
        finally:
            self.stats._update(in_flight=-1)

    async def _route(self, path: str, query: dict[str, str], send: Send, scope: Scope) -> None:
        if path == "/ok":
            wanted = query.get("size")
            await _respond(send, 200, b"x" * int(wanted) if wanted is not None else b"ok")
        elif path == "/slow":
            await anyio.sleep(float(query.get("delay", "60")))
            await _respond(send, 200, b"slow")
        elif path == "/hang":
            await anyio.sleep_forever()
        elif path.startswith("/status/"):
            await _respond(send, int(path.rsplit("/", 1)[1]), b"")
        elif path == "/drip":
            chunks, size = int(query.get("chunks", "10")), int(query.get("size", "10"))
            await _start(send, 200, [(b"content-length", str(chunks * size).encode())])
            for _ in range(chunks):
                await anyio.sleep(float(query.get("delay", "0.01")))
                await send({"type": "http.response.body", "body": b"d" * size, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif path == "/endless":
            size = int(query.get("size", "65536"))
            await _start(send, 200, [])
            while True:
                await send({"type": "http.response.body", "body": b"e" * size, "more_body": True})
                await anyio.sleep(0)
        elif path == "/reset":
            await _start(send, 200, [(b"content-length", b"1000")])
            await send({"type": "http.response.body", "body": b"r" * 10, "more_body": True})
            # Returning with the body incomplete makes uvicorn drop the connection.
        elif path == "/abort":
            await _start(send, 200, [(b"content-length", b"1000")])
            await send({"type": "http.response.body", "body": b"a" * 10, "more_body": True})
            transport = self.transports[tuple(scope["client"])]
            # Linger 0: close() sends RST, so the client reads ECONNRESET, not EOF.
            transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            transport.abort()
            await anyio.sleep_forever()  # until the disconnect watcher ends this handler
        elif path == "/gzip-bomb":
            layers = int(query.get("layers", "1"))
            body = _gzipped_zeros(int(query.get("size", str(64 * 1024 * 1024))), layers)
            coding = ", ".join(["gzip"] * layers).encode()
            headers = [(b"content-encoding", coding), (b"content-length", str(len(body)).encode())]
            await _start(send, 200, headers)
            await send({"type": "http.response.body", "body": body})
        elif path == "/loop":
            await _start(send, 302, [(b"location", b"/loop"), (b"content-length", b"0")])
            await send({"type": "http.response.body", "body": b""})
        elif path == "/redirect":
            target = query.get("to", "/ok").encode()
            await _start(send, 302, [(b"location", target), (b"content-length", b"0")])
            await send({"type": "http.response.body", "body": b""})
        else:
            await _respond(send, 404, b"no such endpoint")


@functools.lru_cache(maxsize=4)
def _gzipped_zeros(size: int, layers: int) -> bytes:
    """Compressing 64 MiB takes a while; do it once per size."""
    body = b"\0" * size
    for _ in range(layers):
        body = gzip.compress(body, compresslevel=9)
    return body


async def _until_disconnect(receive: Receive, handler: Callable[[], Awaitable[None]]) -> None:
    """Run *handler*, cancelling it if the client disconnects first."""
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        await handler()
        tg.cancel_scope.cancel()


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _respond(send: Send, status: int, body: bytes) -> None:
    await _start(send, status, [(b"content-length", str(len(body)).encode())])
    await send({"type": "http.response.body", "body": body})
