"""Broken, one defect: good_limiter_class_cm closing its channel twice, the first time early.

Leaving the block, it first closes the receive side ("nobody listens any more")
and lets the producers notice, and only then cancels them; the receive side is
closed again on the way out. While no producer waits on a send, nothing shows.
A producer blocked on a send when this happens gets BrokenResourceError, which
comes out of the block: in Go terms, the channel was closed under its senders.
"""

from __future__ import annotations

import anyio
import good_limiter_class_cm as base
from good_limiter_class_cm import Result

EXPECTED = {
    "C1": "PASS",
    "C2": "PASS",
    "C3": "PASS",
    "C4": "PASS",
    "C5": "FAIL",
    "C6": "FAIL",
    "C7": "FAIL",
    "C8": "PASS",
    "C9": "FAIL",
}
BACKENDS = ("asyncio",)
REASONS = {"C5": "BrokenResourceError", "C6": "BrokenResourceError"}

__all__ = ["DataFetcher", "Result"]


class ClosesEarly(base.Block):
    async def _stop(self) -> None:
        assert self._receive is not None
        self._receive.close()  # the defect: the first close, under blocked senders
        await anyio.lowlevel.checkpoint()
        await super()._stop()


class DataFetcher(base.DataFetcher):
    block = ClosesEarly
