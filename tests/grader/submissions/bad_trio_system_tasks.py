"""Broken (trio only): producers spawned as trio system tasks, outside any nursery of the block.

The trio spelling of Go's fire-and-forget goroutine: ``spawn_system_task``
gives each producer a life of its own, so leaving the block does not stop
them; the ones still fetching keep their requests in flight and then block
forever on a zero-buffer channel nobody reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import trio

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
BACKENDS = ("trio",)
REASONS = {"C5": "left", "C6": "left", "C7": "left", "C9": "left"}


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
        todo = list(urls)
        client = self._client or httpx.AsyncClient()
        send, receive = trio.open_memory_channel[Result](0)
        gate = trio.Semaphore(self._limit or len(todo) or 1)
        for url in todo:
            trio.lowlevel.spawn_system_task(self._produce, client, url, send, gate)

        async def results() -> AsyncIterator[Result]:
            for _ in todo:
                yield await receive.receive()

        yield results()

    async def _produce(
        self,
        client: httpx.AsyncClient,
        url: str,
        send: trio.MemorySendChannel[Result],
        gate: trio.Semaphore,
    ) -> None:
        async with gate:
            try:
                response = await client.get(url)
                response.raise_for_status()
                result = Result(url, body=response.content)
            except httpx.HTTPError as exc:
                result = Result(url, error=exc)
        await send.send(result)
