"""Hostile: a shell that forks 64 sleepers and waits for them: no Python call to refuse."""

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
        subprocess.run(["sh", "-c", "for i in $(seq 64); do sleep 60 & done; wait"], check=False)
        async with super().fetch(urls) as results:
            yield results
