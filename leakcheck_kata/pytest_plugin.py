"""Grade a kata 17 submission inside a pytest run: one test item per criterion.

Enable it with ``-p leakcheck_kata.pytest_plugin`` (or ``pytest_plugins`` in a
conftest) and name the submission::

    pytest -p leakcheck_kata.pytest_plugin --kata=my_fetcher.py
    pytest -p leakcheck_kata.pytest_plugin --kata=fetcher:DataFetcher --kata-backend=trio

It adds the items ``kata[C1]`` ... ``kata[C9]`` after whatever else was
collected (select them alone with ``-k kata``). A failing item shows the same
reason and evidence as the ``leakcheck-kata`` command. The criteria run in
their own processes exactly as the command runs them, all graded once, on the
first item, one process per CPU at a time. Without ``--kata`` the plugin adds
nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import BACKENDS, grade, missing_backend
from .catalog import select
from .model import Criterion, Grade, SubmissionError, Verdict

_GRADE = pytest.StashKey[Grade | SubmissionError]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--kata=TARGET``, ``--kata-backend``, ``--kata-only``."""
    group = parser.getgroup("kata", "kata 17 grader (leakcheck_kata)")
    group.addoption(
        "--kata",
        metavar="TARGET",
        default=None,
        help="grade this submission: a .py file or package.module[:DataFetcher] "
        "(fetcher:DataFetcher is the bundled reference)",
    )
    group.addoption(
        "--kata-backend",
        choices=BACKENDS,
        default="asyncio",
        help="anyio backend for the kata criteria (default: asyncio)",
    )
    group.addoption(
        "--kata-only", metavar="C5,C7", default=None, help="grade only these kata criteria"
    )


class KataFailure(Exception):
    """A criterion failed; carries the verdict for the report."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class KataItem(pytest.Item):
    """One criterion of the kata, graded in its own process."""

    def __init__(self, *, criterion: Criterion, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.criterion = criterion

    def runtest(self) -> None:
        """Fail with the verdict's reason and evidence unless the criterion passed."""
        outcome = _graded(self.config)
        if isinstance(outcome, SubmissionError):
            raise KataFailure(f"cannot grade: {outcome}")
        verdict = next(v for v in outcome.verdicts if v.id == self.criterion.id)
        if not verdict.passed:
            raise KataFailure(_describe(verdict))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The verdict as text, not a traceback of the grader."""
        if isinstance(excinfo.value, KataFailure):
            return excinfo.value.text
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        """Shown in pytest's headers: which criterion of which submission."""
        target = self.config.getoption("kata")
        return target, None, f"kata[{self.criterion.id}] {self.criterion.name}"


def _describe(verdict: Verdict) -> str:
    lines = [f"{verdict.id} {verdict.name}: FAIL", f"reason: {verdict.reason}"]
    if verdict.evidence:
        lines += ["evidence:", verdict.evidence]
    return "\n".join(lines)


def _graded(config: pytest.Config) -> Grade | SubmissionError:
    if _GRADE not in config.stash:
        try:
            config.stash[_GRADE] = grade(
                config.getoption("kata"),
                backend=config.getoption("kata_backend"),
                only=config.getoption("kata_only"),
            )
        except SubmissionError as exc:
            config.stash[_GRADE] = exc
    return config.stash[_GRADE]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Append one item per selected criterion when ``--kata`` is given."""
    if config.getoption("kata") is None:
        return
    try:
        criteria = select(config.getoption("kata_only"))
    except ValueError as exc:
        raise pytest.UsageError(f"--kata-only: {exc}") from None
    backend = config.getoption("kata_backend")
    why = missing_backend(backend)
    if why:
        raise pytest.UsageError(f"--kata-backend={backend}: {why}")
    for criterion in criteria:
        name = f"kata[{criterion.id}]"
        items.append(KataItem.from_parent(session, name=name, nodeid=name, criterion=criterion))
