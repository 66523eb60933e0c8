"""Correct: a hand-written async context manager, per-URL tasks, a CapacityLimiter.

``fetch()`` returns a plain class with ``__aenter__``/``__aexit__`` (no
``asynccontextmanager``); entering starts an anyio task group with one task per
URL, each holding a clone of the send stream (the stream closes once, when the
last clone does). The limiter is held only while requesting, so a producer
waiting to send does not keep a slot. The buffer holds max_concurrency
Results: a producer that finishes while the consumer is busy parks its Result
and its task ends; more buffer would only hold Results nobody may read.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType

import anyio
import httpx
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

EXPECTED = {f"C{i}": "PASS" for i in range(1, 10)}
BACKENDS = ("asyncio",)


@dataclass(frozen=True)
class Result:
    url: str
    body: bytes | None = None
    error: Exception | None = None


class Block:
    spare_slots = 0
    """Limiter slots beyond max_concurrency: none (bad_off_by_one_bound has one)."""

    def __init__(self, client: httpx.AsyncClient | None, limit: int | None, urls: list[str]):
        self._client = client
        self._limit = limit
        self._urls = urls
        self._stack = AsyncExitStack()
        self._tg: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[Result] | None = None

    async def __aenter__(self) -> MemoryObjectReceiveStream[Result]:
        client = self._client or await self._stack.enter_async_context(httpx.AsyncClient())
        send, self._receive = anyio.create_memory_object_stream[Result](self._limit or 0)
        limiter = anyio.CapacityLimiter(self._limit + self.spare_slots) if self._limit else None
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        with send:
            for url in self._urls:
                self._tg.start_soon(self._produce, client, url, send.clone(), limiter)
        return self._receive

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        assert self._tg is not None and self._receive is not None
        try:
            try:
                await self._stop()
            finally:
                self._tg.cancel_scope.cancel()
                await self._tg.__aexit__(kind, exc, tb)
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            self._receive.close()
            await self._stack.aclose()
        return False

    async def _stop(self) -> None:
        """Stop the producers: the group's cancellation reaches each wherever it waits."""
        assert self._tg is not None
        self._tg.cancel_scope.cancel()

    async def _produce(
        self,
        client: httpx.AsyncClient,
        url: str,
        send: MemoryObjectSendStream[Result],
        limiter: anyio.CapacityLimiter | None,
    ) -> None:
        with send:
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


class DataFetcher:
    def __init__(
        self, client: httpx.AsyncClient | None = None, *, max_concurrency: int | None = None
    ) -> None:
        self._client = client
        self._limit = max_concurrency

    block = Block

    def fetch(self, urls: Iterable[str]) -> Block:
        return self.block(self._client, self._limit, list(urls))
