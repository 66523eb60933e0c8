"""Isolation: crashes the interpreter (a NULL read through ctypes) on entering."""

from __future__ import annotations

import ctypes
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

ONLY = "C1"
EXPECTED = {"C1": "FAIL"}
BACKENDS = ("asyncio",)
REASONS = {"C1": "SIGSEGV"}


class DataFetcher:
    def __init__(self, client: object = None, *, max_concurrency: int | None = None) -> None:
        self._client = client

    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[AsyncIterator[object]]:
        ctypes.string_at(0)
        yield self._nothing()

    async def _nothing(self) -> AsyncIterator[object]:
        return
        yield
