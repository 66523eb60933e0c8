"""Hostile: hoards memory on entering the block, 64 MiB at a time, every page touched."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from good_anyio_taskgroup import DataFetcher as _Good
from good_anyio_taskgroup import Result

__all__ = ["DataFetcher", "Result"]

CHUNK = 64 << 20


class DataFetcher(_Good):
    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[Any]:
        hoard: list[bytes] = []
        while len(hoard) < 1 << 20:  # ends when memory does
            hoard.append(b"x" * CHUNK)
        async with super().fetch(urls) as results:
            yield results
