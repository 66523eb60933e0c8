"""Broken: detached producers blocked on a bounded queue (the kata's forgotten sender).

Producers are fire-and-forget tasks putting into ``asyncio.Queue(maxsize=1)``.
When the consumer leaves early nobody reads any more, so every producer that
finishes its request blocks forever on ``await queue.put(...)``, and the ones
still fetching keep their requests in flight: nothing stops or awaits them.
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
REASONS = {"C5": "left", "C6": "left", "C7": "left", "C9": "left"}


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
        queue: asyncio.Queue[Result] = asyncio.Queue(maxsize=1)
        gate = asyncio.Semaphore(self._limit or len(todo) or 1)
        for url in todo:
            asyncio.ensure_future(self._produce(client, url, queue, gate))  # noqa: RUF006 - the defect: detached

        async def results() -> AsyncIterator[Result]:
            for _ in todo:
                yield await queue.get()

        yield results()

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
                result = Result(url, body=response.content)
            except httpx.HTTPError as exc:
                result = Result(url, error=exc)
        await queue.put(result)  # blocks forever once the consumer is gone
