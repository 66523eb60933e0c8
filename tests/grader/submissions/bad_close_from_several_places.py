"""Broken: the stream is closed from several places, the consumer side included.

Producers share one send stream (no clones) and the last one to finish closes
it, counted by hand; and on the way out the block closes the receive side
before stopping the producers. A producer waiting in ``send()`` at that
moment gets BrokenResourceError, which comes out of the block in an
ExceptionGroup. In Go terms: the consumer closed the channel under its senders.
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
BACKENDS = ("asyncio", "trio")
EXPECTED_TRIO = {"C6": "PASS"}  # only a one-shot Task.cancel() lets the close meet a sender
REASONS = {
    "C5": "BrokenResourceError",
    "C6": "BrokenResourceError",
    "C7": "BrokenResourceError",
    "C9": "wrapped in ExceptionGroup",
}


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
            try:
                async with anyio.create_task_group() as tg:
                    self._running = len(todo)
                    if not todo:
                        send.close()
                    for url in todo:
                        tg.start_soon(self._produce, client, url, send, limiter)
                    try:
                        yield receive
                    finally:
                        receive.close()  # the defect: the consumer side closes first
                        await anyio.sleep(0)
                        tg.cancel_scope.cancel()
                        send.close()
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
        try:
            if limiter is None:
                result = await self._get(client, url)
            else:
                async with limiter:
                    result = await self._get(client, url)
            await send.send(result)
        finally:
            self._running -= 1
            if self._running == 0:
                send.close()  # closed here too, by whichever producer is last

    async def _get(self, client: httpx.AsyncClient, url: str) -> Result:
        try:
            response = await client.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return Result(url, error=exc)
        return Result(url, body=response.content)
