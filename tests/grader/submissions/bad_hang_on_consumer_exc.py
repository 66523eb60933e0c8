"""Broken, one defect: good_limiter_class_cm waits forever when the body raises.

On the consumer's exception, ``__aexit__`` waits for the producers to "finish
on their own" instead of cancelling them, on an event nobody sets: the block
never ends. The grader gives up after a few seconds and shows where every
task and thread was, instead of running into the process's time limit.
"""

from __future__ import annotations

from types import TracebackType

import anyio
import good_limiter_class_cm as base
from good_limiter_class_cm import Result

EXPECTED = {f"C{i}": "FAIL" if i == 9 else "PASS" for i in range(1, 10)}
BACKENDS = ("asyncio",)
REASONS = {"C9": "it hangs"}

__all__ = ["DataFetcher", "Result"]


class WaitsOnError(base.Block):
    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if isinstance(exc, Exception):
            await anyio.Event().wait()  # the defect: "let them finish", on an event never set
        return await super().__aexit__(kind, exc, tb)


class DataFetcher(base.DataFetcher):
    block = WaitsOnError
