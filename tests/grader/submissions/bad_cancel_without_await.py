"""Broken: cancels its producers on the way out but does not wait for them.

``task.cancel()`` only *requests* cancellation; the tasks are still running
when ``__aexit__`` returns, so the caller cannot rely on "when the block is
left, everything has stopped" (a leak at that instant, gone a moment later).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

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
REASONS = {"C5": "when __aexit__ returned", "C6": "left", "C7": "left", "C9": "left"}


@dataclass(frozen=True)
class Result:
    url: str
    body: bytes | None = None
    error: Exception | None = None


class DataFetcher:
    def __init__(
        self, client: httpx.AsyncClient | None = None, *, max_concurrency: int | None = None
    ) -> None:
        self._client = client
        self._limit = max_concurrency

    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[AsyncIterator[Result]]:
        todo = list(urls)
        client = self._client or httpx.AsyncClient()
        queue: asyncio.Queue[Result] = asyncio.Queue()
        gate = asyncio.Semaphore(self._limit or len(todo) or 1)
        tasks = [asyncio.ensure_future(self._produce(client, u, queue, gate)) for u in todo]

        async def results() -> AsyncIterator[Result]:
            for _ in todo:
                yield await queue.get()

        try:
            yield results()
        finally:
            for task in tasks:
                task.cancel()  # requested, never awaited

    async def _produce(
        self,
        client: httpx.AsyncClient,
        url: str,
        queue: asyncio.Queue[Result],
        gate: asyncio.Semaphore,
    ) -> None:
        async with gate:
            try:
                response = await client.get(url)
                response.raise_for_status()
                queue.put_nowait(Result(url, body=response.content))
            except httpx.HTTPError as exc:
                queue.put_nowait(Result(url, error=exc))
