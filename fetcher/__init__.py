"""Reference answer to kata 17: a cancel-safe concurrent URL fetcher.

``async with DataFetcher(client, max_concurrency=10).fetch(urls) as results:``
streams one :class:`Result` per URL; leaving the block by any route stops and
joins every producer before it returns. The idiom is :mod:`fetcher.datafetcher`;
the safety limits are :mod:`fetcher.limits`; the design is docs/fetcher-design.md.
"""

from .datafetcher import DataFetcher, Result
from .limits import (
    DEFAULT_ALLOWED_SCHEMES,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_TIMEOUT,
    BodyTooLargeError,
)

__all__ = [
    "DEFAULT_ALLOWED_SCHEMES",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_TIMEOUT",
    "BodyTooLargeError",
    "DataFetcher",
    "Result",
]
