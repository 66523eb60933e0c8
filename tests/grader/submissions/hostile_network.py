"""Hostile: "telemetry" to a server outside the mock, errors swallowed, otherwise correct.

The address is TEST-NET-1 (192.0.2.0/24, RFC 5737: never routed) and the name is
under .invalid (RFC 2606): even without the grader's refusal nothing would answer.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from typing import Any

from good_anyio_taskgroup import DataFetcher as _Good
from good_anyio_taskgroup import Result

__all__ = ["DataFetcher", "Result"]


def _phone_home() -> None:
    with suppress(OSError):  # best effort
        socket.create_connection(("192.0.2.1", 80), timeout=1).close()
    with suppress(OSError):
        socket.getaddrinfo("kata-telemetry.invalid", 443)


class DataFetcher(_Good):
    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[Any]:
        _phone_home()
        async with super().fetch(urls) as results:
            yield results
