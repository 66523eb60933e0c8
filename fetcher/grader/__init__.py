"""Kata 17 grader: grade a DataFetcher submission against the nine public criteria.

``leakcheck-kata [TARGET]`` on the command line (see :mod:`.cli`), or
``pytest -p fetcher.grader.pytest_plugin --kata=TARGET`` inside a test suite
(see :mod:`.pytest_plugin`); :func:`grade` is what both call.
"""

from __future__ import annotations

import time

from .catalog import CRITERIA, select
from .isolation import check_loads, run_criteria
from .loader import describe
from .model import Criterion, Grade, SubmissionError, Verdict

BACKENDS = ("asyncio", "trio")

__all__ = ["BACKENDS", "CRITERIA", "Criterion", "Grade", "SubmissionError", "Verdict", "grade"]


def grade(target: str | None = None, *, backend: str = "asyncio", only: str | None = None,
          limit: float | None = None) -> Grade:
    """Grade *target* (None: the bundled reference); raise SubmissionError if it cannot load.

    *only* is ``"C5,C7"``-style; *limit* overrides every criterion's hard time limit.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    criteria = select(only)
    started = time.monotonic()
    check_loads(target)
    verdicts = run_criteria(target, criteria, backend, limit)
    return Grade(describe(target), backend, verdicts, time.monotonic() - started)
