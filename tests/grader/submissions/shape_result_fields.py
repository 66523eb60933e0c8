"""Shape: Result has no ``error`` field (errors would be lost)."""

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    url: str
    body: bytes | None = None


class DataFetcher:
    def __init__(self, client: object = None, *, max_concurrency: int | None = None) -> None:
        self._client = client

    @asynccontextmanager
    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[list[Result]]:
        yield []
