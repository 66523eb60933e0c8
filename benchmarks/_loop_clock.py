"""pytest plugin for the overhead benchmark: CPU time of the test loop alone.

A whole run's time is mostly start-up and collection (plugins imported,
files collected), the same for every configuration; the loop over the tests
is where a per-test cost shows, so its CPU time gives the cost per test in
microseconds without the start-up's noise. Loaded with ``-p _loop_clock``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Generator

import pytest

MARK = "LOOP-CPU-SECONDS"


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    start = time.process_time()
    try:
        return (yield)
    finally:
        print(f"\n{MARK} {time.process_time() - start:.6f}", file=sys.stderr)
