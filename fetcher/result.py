"""The value a fetch produces for one URL.

One type for success and failure, because a failed URL is data for the
consumer, not a reason to stop the others: the Python form of Go's
``Result{URL, Body, Err}``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Result"]


@dataclass(frozen=True)
class Result:
    """The outcome of fetching one URL; the fetcher always sets exactly one of body/error.

    ``url`` is the input exactly as given (an ``httpx.URL`` item as its
    ``str()``), so results can be matched back to inputs; duplicates in the
    input give one Result each.

    ``body`` is the complete, decoded body of a 2xx response. ``error`` is
    everything else: a transport error, a timeout, a non-2xx status
    (``httpx.HTTPStatusError``), a malformed URL, a scheme that is not allowed,
    a body over the size limit. ``body`` is None whenever ``error`` is set.
    """

    url: str
    body: bytes | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """True for a successful fetch (``error`` is None)."""
        return self.error is None
