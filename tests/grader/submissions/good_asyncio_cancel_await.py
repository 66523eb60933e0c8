"""Correct (asyncio only): plain tasks, an unbounded Queue, explicit cancel-and-await.

``__aexit__`` cancels every producer and then waits until each has really
finished, even if the waiting itself is cancelled (it keeps waiting and
re-raises the cancellation afterwards), so nothing is left running when it
returns. The consumer's exception is never touched: ``__aexit__`` returns False.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

import httpx

EXPECTED = {f"C{i}": "PASS" for i in range(1, 10)}
BACKENDS = ("asyncio",)


@dataclass(frozen=True)
class Result:
    url: str
    body: bytes | None = None
    error: Exception | None = None


class _Block:
    def __init__(
        self, client: httpx.AsyncClient | None, limit: int | None, urls: list[str]
    ) -> None:
        self._given = client
        self._client: httpx.AsyncClient | None = None
        self._gate = asyncio.Semaphore(limit) if limit else None
        self._urls = urls
        self._queue: asyncio.Queue[Result] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._left = len(urls)

    async def __aenter__(self) -> _Block:
        self._client = self._given or httpx.AsyncClient()
        self._tasks = [asyncio.ensure_future(self._produce(u)) for u in self._urls]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        for task in self._tasks:
            task.cancel()
        interrupted = False
        while not all(t.done() for t in self._tasks):
            try:
                await asyncio.wait(self._tasks)
            except asyncio.CancelledError:
                interrupted = True
        if self._given is None and self._client is not None:
            await asyncio.shield(self._client.aclose())
        if interrupted and kind is None:
            raise asyncio.CancelledError
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
        assert self._client is not None
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
