"""Correct, plain asyncio (3.11+): an asyncio.TaskGroup inside a hand-written context manager.

``fetch()`` takes the running loop (valid: every caller of ``fetch`` has one)
and returns a class with ``__aenter__``/``__aexit__``. Entering starts a
TaskGroup with one task per URL, gated by a Semaphore, and one closer task
that waits for them all and then puts the end marker: a single closer, so the
stream ends exactly once. Leaving cancels every task and lets the TaskGroup
wait for them, passing the body's own exception through untouched. The queue
holds max_concurrency Results (unbounded when there is no limit): enough for
every request in flight to park its Result, no more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType

import httpx

EXPECTED = {f"C{i}": "PASS" for i in range(1, 10)}
BACKENDS = ("asyncio",)
MIN_PYTHON = (3, 11)

_END: object = object()  # the end of the stream, put once


@dataclass(frozen=True)
class Result:
    url: str
    body: bytes | None = None
    error: Exception | None = None


class Stream:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client: httpx.AsyncClient | None,
        limit: int | None,
        urls: list[str],
    ) -> None:
        self._loop = loop
        self._client = client
        self._limit = limit
        self._urls = urls
        self._queue: asyncio.Queue[object] = asyncio.Queue(limit or 0)
        self._group = asyncio.TaskGroup()
        self._tasks: list[asyncio.Task[None]] = []
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Stream:
        client = self._client or await self._stack.enter_async_context(httpx.AsyncClient())
        gate = asyncio.Semaphore(self._limit or len(self._urls) or 1)
        await self._group.__aenter__()
        producers = [self._group.create_task(self._produce(client, gate, u)) for u in self._urls]
        self._tasks = [*producers, self._group.create_task(self._close_after(producers))]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        for task in self._tasks:
            task.cancel()
        if not isinstance(exc, asyncio.CancelledError):
            kind = exc = tb = None  # the body's own error is not the group's: it passes as is
        try:
            return await self._group.__aexit__(kind, exc, tb)
        finally:
            await self._stack.aclose()

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> Result:
        item = await self._queue.get()
        if item is _END:
            raise StopAsyncIteration
        assert isinstance(item, Result)
        return item

    async def _close_after(self, producers: list[asyncio.Task[None]]) -> None:
        if producers:
            await asyncio.wait(producers)
        await self._queue.put(_END)

    async def _produce(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, url: str) -> None:
        async with gate:
            try:
                response = await client.get(url)
                response.raise_for_status()
                result = Result(url, body=response.content)
            except httpx.HTTPError as exc:
                result = Result(url, error=exc)
        await self._queue.put(result)


class DataFetcher:
    def __init__(
        self, client: httpx.AsyncClient | None = None, *, max_concurrency: int | None = None
    ) -> None:
        self._client = client
        self._limit = max_concurrency

    stream = Stream

    def fetch(self, urls: Iterable[str]) -> Stream:
        return self.stream(asyncio.get_running_loop(), self._client, self._limit, list(urls))
