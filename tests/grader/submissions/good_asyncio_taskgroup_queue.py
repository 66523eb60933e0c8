"""Correct (Python 3.11+, asyncio only): asyncio.TaskGroup + an unbounded asyncio.Queue.

The queue is unbounded on purpose: a put never blocks, so no producer can be
stuck on a send when the consumer leaves; memory is bounded by the number of
URLs, which the caller chose. Leaving the block cancels every producer and the
TaskGroup waits for all of them; the consumer's exception is unwrapped from
the TaskGroup's ExceptionGroup so it comes out as the same object.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx

EXPECTED = {f"C{i}": "PASS" for i in range(1, 10)}
BACKENDS = ("asyncio",)
MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class Result:
    url: str
    body: bytes | None = None
    error: Exception | None = None


class _Results:
    def __init__(self, queue: asyncio.Queue[Result], count: int) -> None:
        self._queue = queue
        self._left = count

    def __aiter__(self) -> _Results:
        return self

    async def __anext__(self) -> Result:
        if self._left == 0:
            raise StopAsyncIteration
        result = await self._queue.get()
        self._left -= 1
        return result


class DataFetcher:
    def __init__(
        self, client: httpx.AsyncClient | None = None, *, max_concurrency: int | None = None
    ) -> None:
        self._client = client
        self._limit = max_concurrency

    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[_Results]:
        todo = list(urls)
        queue: asyncio.Queue[Result] = asyncio.Queue()
        gate = asyncio.Semaphore(self._limit) if self._limit else None
        async with AsyncExitStack() as stack:
            client = self._client or await stack.enter_async_context(httpx.AsyncClient())
            try:
                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(self._produce(client, u, queue, gate)) for u in todo]
                    try:
                        yield _Results(queue, len(todo))
                    finally:
                        for task in tasks:
                            task.cancel()
            except BaseExceptionGroup as group:  # noqa: F821 - a builtin on 3.11+
                if len(group.exceptions) == 1:
                    raise group.exceptions[0] from None
                raise

    async def _produce(
        self,
        client: httpx.AsyncClient,
        url: str,
        queue: asyncio.Queue[Result],
        gate: asyncio.Semaphore | None,
    ) -> None:
        if gate is None:
            queue.put_nowait(await self._get(client, url))
            return
        async with gate:
            result = await self._get(client, url)
        queue.put_nowait(result)

    async def _get(self, client: httpx.AsyncClient, url: str) -> Result:
        try:
            response = await client.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return Result(url, error=exc)
        return Result(url, body=response.content)
