"""Isolation: otherwise correct, but starts a non-daemon "stats" thread that never ends.

A program using it could never exit: the interpreter waits for non-daemon
threads at shutdown. The criterion's process still ends (the grader leaves
with os._exit) and the verdict says why.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from good_anyio_taskgroup import DataFetcher as _Good
from good_anyio_taskgroup import Result

ONLY = "C1"
EXPECTED = {"C1": "FAIL"}
BACKENDS = ("asyncio",)
REASONS = {"C1": "not daemon"}

__all__ = ["DataFetcher", "Result"]

_forever = threading.Event()


class DataFetcher(_Good):
    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[Any]:
        threading.Thread(target=_forever.wait, name="stats reporter", daemon=False).start()
        async with super().fetch(urls) as results:
            yield results
