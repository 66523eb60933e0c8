"""Isolation: calls os._exit on entering, killing its own process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

ONLY = "C1,C9"
EXPECTED = {"C1": "FAIL", "C9": "FAIL"}
BACKENDS = ("asyncio",)
REASONS = {"C1": "exited with code 7", "C9": "exited with code 7"}


class DataFetcher:
    def __init__(self, client: object = None, *, max_concurrency: int | None = None) -> None:
        self._client = client

    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[AsyncIterator[object]]:
        os._exit(7)
        yield self._nothing()

    async def _nothing(self) -> AsyncIterator[object]:
        return
        yield
