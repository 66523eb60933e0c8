"""Shape: fetch is an async generator, not a function returning an async context manager."""

from collections.abc import AsyncIterator, Iterable


class DataFetcher:
    def __init__(self, client: object = None, *, max_concurrency: int | None = None) -> None:
        self._client = client

    async def fetch(self, urls: Iterable[str]) -> AsyncIterator[object]:
        for url in urls:
            yield url
