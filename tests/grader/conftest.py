"""Fixtures for the grader's tests: the corpus and each file's declared verdicts.

The corpus files are submissions, not tests: they are never collected, and
never imported into this process (their expectations are read from the
source with ``ast``), because grading them is the grader's job, in its own
processes. Each (file, backend) is graded once per session and cached.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leakcheck_kata import Grade, SubmissionError, grade_many

collect_ignore_glob = ["submissions/*"]

SUBMISSIONS = Path(__file__).parent / "submissions"


@dataclass(frozen=True)
class Expectation:
    """What a corpus file declares about itself."""

    path: Path
    expected: dict[str, str]
    backends: tuple[str, ...]
    reasons: dict[str, str]
    only: str | None
    timeout: float | None
    min_python: tuple[int, ...]
    on_trio: dict[str, str]
    """``EXPECTED_TRIO``: the verdicts that differ on trio, where a defect only a one-shot
    ``Task.cancel()`` exposes cannot show (trio has none)."""

    def vector(self, backend: str) -> dict[str, str]:
        """The declared verdicts on *backend*."""
        return {**self.expected, **self.on_trio} if backend == "trio" else self.expected


def _constants(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id.isupper():
                source = ast.get_source_segment(path.read_text(encoding="utf-8"), node.value)
                # Our own corpus constants: literals, or a comprehension over range().
                found[target.id] = eval(source or "None", {"__builtins__": {"range": range}})
    return found


def expectation(name: str) -> Expectation:
    """The declared verdicts of ``submissions/<name>.py``."""
    path = SUBMISSIONS / f"{name}.py"
    c = _constants(path)
    return Expectation(
        path,
        c["EXPECTED"],
        tuple(c.get("BACKENDS", ("asyncio",))),
        c.get("REASONS", {}),
        c.get("ONLY"),
        c.get("TIMEOUT"),
        tuple(c.get("MIN_PYTHON", (3, 10))),
        c.get("EXPECTED_TRIO", {}),
    )


def corpus(prefix: str) -> list[str]:
    """Names of the corpus files starting with *prefix* (good_, bad_, iso_)."""
    return sorted(p.stem for p in SUBMISSIONS.glob(f"{prefix}*.py"))


PARALLEL = 4
"""Criterion processes at once while grading the corpus. The machine has 2 cores, but the
processes mostly sleep on mocked slow URLs, and every corpus verdict has a wide margin."""
LONG_FIRST = ("bad_batching", "bad_swallow_cancel")
"""Files whose grading waits on slow URLs (by design of their defect): started first, so
their long criteria overlap the rest instead of trailing at the end."""


@pytest.fixture(scope="session")
def graded(request: pytest.FixtureRequest) -> Callable[[str, str], Grade]:
    """Grade a corpus file on a backend, once per session.

    The first call grades, in one batch, every (file, backend) that the collected
    tests ask for, so the process slots stay busy across files (under xdist: only
    the file asked for, its criteria in parallel; the workers share the corpus).
    """
    cache: dict[tuple[str, str], Grade] = {}

    def wanted() -> set[tuple[str, str]]:
        if hasattr(request.config, "workerinput"):
            # an xdist worker collects every item but runs only those sent to it:
            # batching them all graded the whole corpus once per worker
            return set()
        found = set()
        for item in request.session.items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            if "name" in params and "backend" in params:
                found.add((params["name"], params["backend"]))
        return found

    def get(name: str, backend: str) -> Grade:
        if (name, backend) not in cache:
            todo = sorted(
                ({(name, backend)} | wanted()) - set(cache),
                key=lambda nb: (nb[0] not in LONG_FIRST, nb),
            )
            todo = [(n, b) for n, b in todo if sys.version_info >= expectation(n).min_python]
            exps = [expectation(n) for n, _ in todo]
            grades = grade_many(
                [(str(e.path), b, e.only, e.timeout) for e, (_, b) in zip(exps, todo, strict=True)],
                PARALLEL,
            )
            for key, outcome in zip(todo, grades, strict=True):
                if isinstance(outcome, SubmissionError):
                    raise AssertionError(f"{key[0]} could not be graded: {outcome}")
                cache[key] = outcome
        return cache[name, backend]

    return get
