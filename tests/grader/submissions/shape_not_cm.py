"""Shape: fetch returns a plain list."""

from collections.abc import Iterable


class DataFetcher:
    def __init__(self, client: object = None, *, max_concurrency: int | None = None) -> None:
        self._client = client

    def fetch(self, urls: Iterable[str]) -> list[str]:
        return list(urls)
