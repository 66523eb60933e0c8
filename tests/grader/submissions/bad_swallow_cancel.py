"""Broken: a producer swallows CancelledError ("never lose a URL: retry once").

The block cancels and awaits its producers properly, but each producer that is
cancelled mid-request catches the CancelledError and fetches again, so leaving
the block waits for a whole slow request instead of ending at once. Under an
anyio cancel scope this would be hidden (the scope re-delivers cancellation at
the retry's first checkpoint); a single plain ``task.cancel()`` exposes it.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    "C9": "PASS",
}
BACKENDS = ("asyncio",)
REASONS = {"C5": "__aexit__ had not returned", "C6": "after the cancel", "C7": "hangs"}


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
        self._gate = asyncio.Semaphore(limit) if limit else None
        self._urls = urls
        self._queue: asyncio.Queue[Result] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._left = len(urls)

    async def __aenter__(self) -> _Block:
        self._tasks = [asyncio.ensure_future(self._produce(u)) for u in self._urls]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        for task in self._tasks:
            task.cancel()
        while not all(t.done() for t in self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait(self._tasks)
        return False

    def __aiter__(self) -> _Block:
        return self

    async def __anext__(self) -> Result:
        if self._left == 0:
            raise StopAsyncIteration
        result = await self._queue.get()
        self._left -= 1
        return result

    async def _produce(self, url: str) -> None:
        if self._gate is None:
            self._queue.put_nowait(await self._get(url))
            return
        async with self._gate:
            result = await self._get(url)
        self._queue.put_nowait(result)

    async def _get(self, url: str) -> Result:
        try:
            try:
                response = await self._client.get(url)
            except asyncio.CancelledError:
                response = await self._client.get(url)  # the defect: swallowed, retried
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
