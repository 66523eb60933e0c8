"""Isolation: blocks the event loop forever on entering (a synchronous sleep)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

ONLY = "C1"
TIMEOUT = 3.0
EXPECTED = {"C1": "FAIL"}
BACKENDS = ("asyncio",)
REASONS = {"C1": "timed out after 3 s"}


class DataFetcher:
    def __init__(self, client: object = None, *, max_concurrency: int | None = None) -> None:
        self._client = client

    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[AsyncIterator[object]]:
        time.sleep(3600)  # the defect: never yields to the event loop
        yield self._nothing()

    async def _nothing(self) -> AsyncIterator[object]:
        return
        yield
