"""Broken, one defect: good_limiter_class_cm with one limiter slot too many.

Everything else is the correct answer's, imported from it, so the verdict
vector shows this defect alone: max_concurrency=k lets k + 1 requests run.
"""

from __future__ import annotations

import good_limiter_class_cm as base
from good_limiter_class_cm import Result

EXPECTED = {f"C{i}": "FAIL" if i == 4 else "PASS" for i in range(1, 10)}
BACKENDS = ("asyncio",)
REASONS = {"C4": "5 requests in flight at once, more than 4"}

__all__ = ["DataFetcher", "Result"]


class OffByOne(base.Block):
    spare_slots = 1  # the defect: CapacityLimiter(k + 1)


class DataFetcher(base.DataFetcher):
    block = OffByOne
