"""Correct: a pool of min(k, N) anyio workers pulling URLs from one shared iterator.

Live tasks are O(max_concurrency), not O(N). Each worker owns a clone of the
send stream, so the stream closes exactly once, when the last worker exits;
sends are anyio checkpoints, so a cancelled group stops workers mid-send.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

EXPECTED = {f"C{i}": "PASS" for i in range(1, 10)}
BACKENDS = ("asyncio", "trio")


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
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[MemoryObjectReceiveStream[Result]]:
        todo = list(urls)
        workers = min(self._limit or len(todo), len(todo))
        shared = iter(todo)
        async with AsyncExitStack() as stack:
            client = self._client or await stack.enter_async_context(httpx.AsyncClient())
            send, receive = anyio.create_memory_object_stream[Result](0)
            try:
                async with anyio.create_task_group() as tg:
                    async with send:
                        for _ in range(workers):
                            tg.start_soon(self._work, client, shared, send.clone())
                    with receive:
                        try:
                            yield receive
                        finally:
                            tg.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                if len(group.exceptions) == 1:
                    raise group.exceptions[0] from None
                raise

    async def _work(
        self, client: httpx.AsyncClient, shared: Iterator[str], send: MemoryObjectSendStream[Result]
    ) -> None:
        async with send:
            for url in shared:
                await send.send(await self._get(client, url))

    async def _get(self, client: httpx.AsyncClient, url: str) -> Result:
        try:
            response = await client.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return Result(url, error=exc)
        return Result(url, body=response.content)
