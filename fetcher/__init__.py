"""Reference answer to kata 17: a cancel-safe concurrent URL fetcher.

``async with DataFetcher(client, max_concurrency=10).fetch(urls) as results:``
streams one :class:`Result` per URL; leaving the block by any route stops and
joins every producer before it returns. The design and its reasons are in
:mod:`fetcher.datafetcher`.
"""

from .datafetcher import DataFetcher
from .limits import (
    DEFAULT_ALLOWED_SCHEMES,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_TIMEOUT,
    BodyTooLargeError,
)
from .result import Result

__all__ = [
    "DEFAULT_ALLOWED_SCHEMES",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_TIMEOUT",
    "BodyTooLargeError",
    "DataFetcher",
    "Result",
]
