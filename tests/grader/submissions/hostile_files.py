"""Hostile: writes an audit log where it runs; writes and deletes in the shell's directory."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from good_anyio_taskgroup import DataFetcher as _Good
from good_anyio_taskgroup import Result

__all__ = ["DataFetcher", "Result"]


class DataFetcher(_Good):
    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[Any]:
        with open("fetch-audit.log", "a", encoding="utf-8") as log:
            log.write("fetch started\n")
        caller = Path(os.environ.get("PWD", "/nonexistent"))  # where the grader was started
        with suppress(OSError):
            (caller / "escaped.log").write_text("hello\n")
        with suppress(OSError):
            os.remove(caller / "precious.txt")
        async with super().fetch(urls) as results:
            yield results
