"""Broken, one defect: good_asyncio_taskgroup_class leaving its producers when the body raises.

An exception from the consumer's body is "not ours", so this ``__aexit__`` lets
it through at once and never exits its TaskGroup: every producer is still
running when the exception comes out. Leaving by ``break``, by the end of the
stream or by a cancellation stops everything, as in the correct answer.
"""

from __future__ import annotations

from types import TracebackType

import good_asyncio_taskgroup_class as base
from good_asyncio_taskgroup_class import Result

EXPECTED = {f"C{i}": "FAIL" if i == 9 else "PASS" for i in range(1, 10)}
BACKENDS = ("asyncio",)
MIN_PYTHON = (3, 11)
REASONS = {"C9": "when the body's exception came out of the block"}

__all__ = ["DataFetcher", "Result"]


class LeavesOnError(base.Stream):
    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        if isinstance(exc, Exception):
            return None  # the defect: the consumer's error leaves with every producer running
        return await super().__aexit__(kind, exc, tb)


class DataFetcher(base.DataFetcher):
    stream = LeavesOnError
