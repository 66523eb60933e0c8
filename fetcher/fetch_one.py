"""Fetch one URL into one Result: every failure is data, only cancellation escapes.

This is the unit of work a producer runs. It never raises for a URL's own
problem (so one bad URL cannot tear down its siblings through the task group)
and it never swallows cancellation (so a stop request always reaches the
producer that is waiting here).
"""

from __future__ import annotations

import anyio
import httpx

from .limits import Limits
from .result import Result

__all__ = ["CLOSE_GRACE", "fetch_one"]

CLOSE_GRACE = 5.0
"""Seconds a shielded close may take. Closing is local work (drop a socket),
so this bound is only a backstop that keeps a broken transport from hanging
the fetch block's exit forever."""


async def fetch_one(client: httpx.AsyncClient, url: str, limits: Limits) -> Result:
    """GET *url* through *client* within *limits*; return its Result."""
    try:
        # build_request merges the client's base_url, so the scheme checked
        # here is the one that would really be used.
        request = client.build_request("GET", url)
        base = client.base_url
        limits.check_target(request, url, base_lends=bool(base.scheme or base.host))
    except Exception as exc:  # malformed URL, refused scheme, no host: no request is made
        return Result(url, error=exc)

    with anyio.move_on_after(limits.timeout):
        try:
            return Result(url, body=await _exchange(client, request, limits))
        except Exception as exc:  # transport error, non-2xx, body too large
            return Result(url, error=exc)
    # Only reached when our own deadline cancelled the exchange; a cancellation
    # from outside propagates through move_on_after untouched.
    return Result(
        url,
        error=httpx.TimeoutException(
            f"no complete response from {url} within {limits.timeout:g} s", request=request
        ),
    )


async def _exchange(client: httpx.AsyncClient, request: httpx.Request, limits: Limits) -> bytes:
    """Send, check the status, read the body within the size limit.

    This is ``client.stream()`` spelled out so the close can be shielded:
    when the exchange is cancelled mid-body, the response (and the connection
    it holds) is still released before this producer counts as finished, so
    "the producer exited" implies "no request in flight".
    """
    response = await client.send(request, stream=True)
    try:
        response.raise_for_status()  # any non-2xx, 3xx the client did not follow included
        return await limits.read_body(response)
    finally:
        # A body read to its end has closed the response already (httpx does
        # on the last chunk): no scope to enter on the common path.
        if not response.is_closed:
            with anyio.move_on_after(CLOSE_GRACE, shield=True):
                await response.aclose()
