"""Shape: defines a Result but no DataFetcher."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    url: str
    body: bytes | None = None
    error: Exception | None = None
