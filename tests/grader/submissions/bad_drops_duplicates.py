"""Broken: drops duplicate URLs ("why fetch the same page twice?").

The contract says one Result per input URL, duplicates included: a caller
counting Results against its input (or zipping them) loses entries.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

EXPECTED = {f"C{i}": "FAIL" if i == 1 else "PASS" for i in range(1, 10)}
BACKENDS = ("asyncio",)
REASONS = {"C1": "missing"}


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
        todo = list(dict.fromkeys(urls))  # the defect: duplicates dropped
        async with AsyncExitStack() as stack:
            client = self._client or await stack.enter_async_context(httpx.AsyncClient())
            limiter = anyio.CapacityLimiter(self._limit) if self._limit else None
            send, receive = anyio.create_memory_object_stream[Result](0)
            try:
                async with anyio.create_task_group() as tg:
                    async with send:
                        for url in todo:
                            tg.start_soon(self._produce, client, url, send.clone(), limiter)
                    with receive:
                        try:
                            yield receive
                        finally:
                            tg.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                if len(group.exceptions) == 1:
                    raise group.exceptions[0] from None
                raise

    async def _produce(
        self,
        client: httpx.AsyncClient,
        url: str,
        send: MemoryObjectSendStream[Result],
        limiter: anyio.CapacityLimiter | None,
    ) -> None:
        async with send:
            if limiter is None:
                result = await self._get(client, url)
            else:
                async with limiter:
                    result = await self._get(client, url)
            await send.send(result)

    async def _get(self, client: httpx.AsyncClient, url: str) -> Result:
        try:
            response = await client.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return Result(url, error=exc)
        return Result(url, body=response.content)
