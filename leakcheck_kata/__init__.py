"""Kata 17 grader: grade a DataFetcher submission against the nine public criteria.

``leakcheck-kata [TARGET]`` on the command line (see :mod:`.cli`), or
``pytest -p leakcheck_kata.pytest_plugin --kata=TARGET`` inside a test suite
(see :mod:`.pytest_plugin`); :func:`grade` is what both call.
"""

from __future__ import annotations

import importlib.util
import time

from .catalog import CRITERIA, select
from .isolation import Request, default_jobs, run
from .limits import Caps
from .loader import describe
from .model import Criterion, Grade, SubmissionError, Verdict

BACKENDS = ("asyncio", "trio")
INSTALL_HINT = "pip install 'pytest-leakcheck[kata]'"

__all__ = [
    "BACKENDS",
    "CRITERIA",
    "Caps",
    "Criterion",
    "Grade",
    "SubmissionError",
    "Verdict",
    "default_jobs",
    "grade",
    "grade_many",
    "missing_backend",
]


def missing_backend(backend: str) -> str | None:
    """Why *backend* cannot run here, or None: trio is an optional package.

    Checked before any criterion process starts, so a missing trio is one usage
    error saying how to install it, not nine failed criteria with a traceback each.
    """
    if backend == "trio" and importlib.util.find_spec("trio") is None:
        return f"trio is not installed; install it with: {INSTALL_HINT}"
    return None


def grade(
    target: str | None = None,
    *,
    backend: str = "asyncio",
    only: str | None = None,
    limit: float | None = None,
    caps: Caps | None = None,
    jobs: int | None = None,
) -> Grade:
    """Grade *target* (None: the bundled reference); raise SubmissionError if it cannot load.

    *only* is ``"C5,C7"``-style; *limit* overrides every criterion's hard time limit;
    *caps* are each criterion process's resource caps; *jobs* processes run at once
    (default: one per CPU).
    """
    outcome = grade_many([(target, backend, only, limit)], jobs, caps=caps)[0]
    if isinstance(outcome, SubmissionError):
        raise outcome
    return outcome


def grade_many(
    requests: list[tuple[str | None, str, str | None, float | None]],
    parallel: int | None = None,
    *,
    caps: Caps | None = None,
) -> list[Grade | SubmissionError]:
    """Grade several ``(target, backend, only, limit)`` at once, sharing the process slots.

    For course tooling (and the grader's own tests) grading many files: the
    slots stay busy across files instead of idling at the end of each one.
    """
    started = time.monotonic()
    batch = []
    for target, backend, only, limit in requests:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        why = missing_backend(backend)
        if why:
            raise ValueError(f"--backend {backend}: {why}")
        if limit is not None and not limit > 0:
            raise ValueError(f"the time limit must be a positive number of seconds, not {limit}")
        batch.append(Request(target, tuple(select(only)), backend, limit, caps or Caps()))
    outcomes = run(batch, parallel)
    took = time.monotonic() - started
    return [
        out
        if isinstance(out, SubmissionError)
        else Grade(describe(req.target), req.backend, out, took)
        for req, out in zip(batch, outcomes, strict=True)
    ]
