"""Broken: lets the task group wrap the consumer's exception in an ExceptionGroup.

Everything else is right; but ``except ValueError`` around the block no longer
catches the caller's own ValueError, because anyio's task group re-raises it
inside an ExceptionGroup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

EXPECTED = {
    "C1": "PASS",
    "C2": "PASS",
    "C3": "PASS",
    "C4": "PASS",
    "C5": "PASS",
    "C6": "PASS",
    "C7": "PASS",
    "C8": "PASS",
    "C9": "FAIL",
}
BACKENDS = ("asyncio", "trio")
REASONS = {"C9": "wrapped in"}


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
        async with AsyncExitStack() as stack:
            client = self._client or await stack.enter_async_context(httpx.AsyncClient())
            limiter = anyio.CapacityLimiter(self._limit) if self._limit else None
            send, receive = anyio.create_memory_object_stream[Result](0)
            async with anyio.create_task_group() as tg:  # the defect: no unwrapping
                async with send:
                    for url in todo:
                        tg.start_soon(self._produce, client, url, send.clone(), limiter)
                with receive:
                    try:
                        yield receive
                    finally:
                        tg.cancel_scope.cancel()

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
