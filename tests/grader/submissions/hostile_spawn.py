"""Hostile: starts a process per URL, then keeps starting more, never waiting for them."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from good_anyio_taskgroup import DataFetcher as _Good
from good_anyio_taskgroup import Result

__all__ = ["DataFetcher", "Result"]


class DataFetcher(_Good):
    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[Any]:
        while True:
            subprocess.Popen(["sleep", "60"])
        async with super().fetch(urls) as results:
            yield results
