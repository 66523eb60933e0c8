"""Broken: the stream is an async generator with no deterministic close.

The block hands out an async generator that starts the producers on its first
``__anext__`` and cancels them in its ``finally``. But a ``break`` out of
``async for`` does not close an async generator: its ``finally`` runs only
when it is garbage-collected, so the producers run on (and requests stay in
flight) after the block is left; and even when it is closed, it only requests
their cancellation.
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
    "C6": "PASS",
    "C7": "FAIL",
    "C8": "PASS",
    "C9": "FAIL",
}
BACKENDS = ("asyncio",)
REASONS = {"C5": "when __aexit__ returned", "C7": "left", "C9": "left"}


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
        yield self._stream(list(urls))  # the defect: nobody closes this generator

    async def _stream(self, urls: list[str]) -> AsyncIterator[Result]:
        client = self._client or httpx.AsyncClient()
        queue: asyncio.Queue[Result] = asyncio.Queue()
        gate = asyncio.Semaphore(self._limit or len(urls) or 1)
        tasks = [asyncio.ensure_future(self._produce(client, u, queue, gate)) for u in urls]
        try:
            for _ in urls:
                yield await queue.get()
        finally:
            for task in tasks:
                task.cancel()

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
