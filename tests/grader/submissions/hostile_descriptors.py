"""Hostile: opens files and never closes them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from good_anyio_taskgroup import DataFetcher as _Good
from good_anyio_taskgroup import Result

__all__ = ["DataFetcher", "Result"]


class DataFetcher(_Good):
    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[Any]:
        hoard = [open(os.devnull, "rb") for _ in range(1 << 20)]  # noqa: SIM115
        async with super().fetch(urls) as results:
            yield results
        del hoard
