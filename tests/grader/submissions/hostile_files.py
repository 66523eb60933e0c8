"""Hostile: writes an audit log where it runs, and a file into the shell's directory ($PWD)."""

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
        with suppress(OSError):
            (Path(os.environ.get("PWD", "/nonexistent")) / "escaped.log").write_text("hello\n")
        async with super().fetch(urls) as results:
            yield results
