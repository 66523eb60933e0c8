"""Another style, leaky by nature: a synchronous httpx.Client in daemon threads.

One thread per URL, at most max_concurrency requesting at once (a
threading.Semaphore); each hands its Result to the event loop with
``call_soon_threadsafe`` into an unbounded queue. It completes, streams, bounds
concurrency and reports errors. But a blocking request cannot be cancelled:
leaving the block only tells the threads to drop their Results, and each one
stays inside its request until that request ends, so every exit with a slow
request in flight leaves threads (and requests) behind.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

import httpx

EXPECTED = {
    "C1": "PASS",
    "C2": "PASS",
    "C3": "PASS",
    "C4": "PASS",
    "C5": "FAIL",
    "C6": "FAIL",
    "C7": "FAIL",
    "C8": "PASS",
    "C9": "FAIL",
}
BACKENDS = ("asyncio",)
REASONS = {"C5": "thread", "C6": "thread", "C9": "thread"}

_END: object = object()  # the end of the stream, put once


@dataclass(frozen=True)
class Result:
    url: str
    body: bytes | None = None
    error: Exception | None = None


class _Stream:
    def __init__(self, limit: int | None, urls: list[str]) -> None:
        self._urls = urls
        self._gate = threading.Semaphore(limit or len(urls) or 1)
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._stop = threading.Event()
        self._left = len(urls)
        self._lock = threading.Lock()
        self._client = httpx.Client()

    async def __aenter__(self) -> _Stream:
        loop = asyncio.get_running_loop()
        if not self._urls:
            self._queue.put_nowait(_END)
        for url in self._urls:
            threading.Thread(target=self._work, args=(loop, url), daemon=True).start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()  # all a thread blocked in a request can be told

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> Result:
        item = await self._queue.get()
        if item is _END:
            raise StopAsyncIteration
        assert isinstance(item, Result)
        return item

    def _work(self, loop: asyncio.AbstractEventLoop, url: str) -> None:
        try:
            with self._gate:
                if self._stop.is_set():
                    return
                result = self._get(url)
            if not self._stop.is_set():
                loop.call_soon_threadsafe(self._queue.put_nowait, result)
        finally:
            with self._lock:
                self._left -= 1
                last = self._left == 0
            if last:
                self._client.close()
                if not self._stop.is_set():
                    loop.call_soon_threadsafe(self._queue.put_nowait, _END)

    def _get(self, url: str) -> Result:
        try:
            response = self._client.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return Result(url, error=exc)
        return Result(url, body=response.content)


class DataFetcher:
    def __init__(
        self, client: httpx.AsyncClient | None = None, *, max_concurrency: int | None = None
    ) -> None:
        self._limit = max_concurrency  # the given AsyncClient cannot serve a thread

    def fetch(self, urls: Iterable[str]) -> _Stream:
        return _Stream(self._limit, list(urls))
