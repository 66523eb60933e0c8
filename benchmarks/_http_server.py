"""A minimal HTTP/1.1 responder on 127.0.0.1, in its own process, for the fetcher benchmarks.

Why not the tests' uvicorn ``LiveServer``: it runs in a thread of the
client's own process and parses requests through an ASGI app, so on a
2-core machine a throughput figure would mostly measure uvicorn and the GIL
it shares with the client. This responder is a bare ``asyncio.Protocol`` in
a separate process (the other core): it answers ``/ok`` at once with a fixed
body and never answers ``/hang``, keeps connections alive, and counts open
connections, requests and the instant the open count last fell to zero in
shared memory, so the client can see what the server sees. Loopback only;
it stops when told, when its parent dies, or after ``MAX_LIFETIME`` seconds.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import socket
import time
from multiprocessing.sharedctypes import Synchronized
from types import TracebackType
from typing import Any

__all__ = ["BenchServer"]

MAX_LIFETIME = 1800.0
BODY = b"x" * 64
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


class _Counters:
    """Shared-memory counters (one writer: the server process)."""

    def __init__(self, ctx: Any) -> None:
        self.open: Synchronized[int] = ctx.Value("l", 0, lock=False)
        self.requests: Synchronized[int] = ctx.Value("l", 0, lock=False)
        self.hanging: Synchronized[int] = ctx.Value("l", 0, lock=False)
        self.last_zero: Synchronized[float] = ctx.Value("d", 0.0, lock=False)


class _Handler(asyncio.Protocol):
    def __init__(self, counters: _Counters) -> None:
        self.c = counters
        self.buf = b""
        self.hangs = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.c.open.value += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            self.c.requests.value += 1
            path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
            if path.startswith(b"/hang"):
                self.hangs += 1
                self.c.hanging.value += 1  # never answered; ends when the client leaves
            elif self.transport is not None:
                self.transport.write(_OK)

    def connection_lost(self, exc: Exception | None) -> None:
        self.c.hanging.value -= self.hangs
        self.c.open.value -= 1
        if self.c.open.value == 0:
            self.c.last_zero.value = time.monotonic()


def _serve(sock: socket.socket, counters: _Counters, stop: Any, parent: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Handler(counters), sock=sock, backlog=4096)
        deadline = time.monotonic() + MAX_LIFETIME
        while not stop.is_set() and time.monotonic() < deadline and os.getppid() == parent:
            await asyncio.sleep(0.05)
        server.close()

    asyncio.run(main())


class BenchServer:
    """Start with ``with BenchServer() as server:``; ``server.url(path)``."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.counters = _Counters(ctx)
        self._stop = ctx.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4096)
        host, port = self._sock.getsockname()
        self.base = f"http://{host}:{port}"
        self._proc = ctx.Process(
            target=_serve,
            args=(self._sock, self.counters, self._stop, os.getpid()),
            daemon=True,
            name="bench-http-server",
        )

    def url(self, path: str) -> str:
        return self.base + path

    def wait_closed(self, timeout: float = 60.0) -> bool:
        """Until the server has no connection open (polled; the server is another process)."""
        deadline = time.monotonic() + timeout
        while self.counters.open.value > 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

    def __enter__(self) -> BenchServer:
        self._proc.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._sock.close()
