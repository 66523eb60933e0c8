"""Broken: producer threads blocked on a full ``queue.Queue``.

Each URL gets a thread that has the event loop fetch it and then hands the
Result over through ``queue.Queue(maxsize=1)``. A thread cannot be cancelled:
when the consumer leaves, every thread that finished its request is stuck in
``Queue.put`` forever, and the others are still waiting on their request.
"""

from __future__ import annotations

import asyncio
import queue
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
REASONS = {"C5": "thread", "C6": "thread", "C7": "left", "C9": "left"}


@dataclass(frozen=True)
class Result:
    url: str
    body: bytes | None = None
    error: Exception | None = None


class _Block:
    def __init__(
        self, client: httpx.AsyncClient | None, limit: int | None, urls: list[str]
    ) -> None:
        self._client = client or httpx.AsyncClient()
        self._urls = urls
        self._limit = limit
        self._handoff: queue.Queue[Result] = queue.Queue(maxsize=1)
        self._left = len(urls)

    async def __aenter__(self) -> _Block:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self._limit or len(self._urls) or 1)
        for url in self._urls:
            threading.Thread(
                target=self._work, args=(loop, gate, url), daemon=True, name=f"fetch {url}"
            ).start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return False

    def __aiter__(self) -> _Block:
        return self

    async def __anext__(self) -> Result:
        if self._left == 0:
            raise StopAsyncIteration
        while True:
            try:
                result = self._handoff.get_nowait()
            except queue.Empty:
                await asyncio.sleep(0.002)
                continue
            self._left -= 1
            return result

    def _work(self, loop: asyncio.AbstractEventLoop, gate: asyncio.Semaphore, url: str) -> None:
        result = asyncio.run_coroutine_threadsafe(self._get(gate, url), loop).result()
        self._handoff.put(result)  # blocks while the queue is full: forever, once nobody reads

    async def _get(self, gate: asyncio.Semaphore, url: str) -> Result:
        async with gate:
            try:
                response = await self._client.get(url)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                return Result(url, error=exc)
            return Result(url, body=response.content)


class DataFetcher:
    def __init__(
        self, client: httpx.AsyncClient | None = None, *, max_concurrency: int | None = None
    ) -> None:
        self._client = client
        self._limit = max_concurrency

    def fetch(self, urls: Iterable[str]) -> _Block:
        return _Block(self._client, self._limit, list(urls))
