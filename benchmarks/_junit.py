"""Per-test outcomes from pytest's JUnit XML, keyed by pytest node id.

Why JUnit XML and not pytest's terminal output: it is pytest's stable,
machine-readable record of every test, with the full text of each failure
(a leak report is the text of a teardown failure), and it is written even
when the terminal summary is truncated. The peer-suite runner asks for the
``xunit1`` family so that each ``<testcase>`` carries its ``file``, from which
the node id is rebuilt exactly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LEAK_MARK", "TestResult", "leak_reason", "read_junit"]

#: How a leak report starts (``pytest_leakcheck._report.format_leaks``).
LEAK_MARK = "leakcheck: "

_FAILED = ("failure", "error")  # the JUnit elements of a failed call / setup or teardown


@dataclass
class TestResult:
    """One test's outcome and the texts of its failures (call and teardown)."""

    __test__ = False  # not a test class, whatever pytest's collector thinks

    nodeid: str
    outcome: str  # passed | failed | error | skipped
    texts: list[str] = field(default_factory=list)  # each failure's full text
    messages: list[str] = field(default_factory=list)  # each failure's one-line summary

    @property
    def flagged(self) -> bool:
        """Whether leakcheck failed this test (or a fixture it finalized)."""
        return any(LEAK_MARK in text for text in [*self.texts, *self.messages])

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "error")


def _nodeid(case: ET.Element) -> str:
    """``tests/test_x.py::Class::name[param]`` from xunit1's file/classname/name."""
    name = case.get("name", "")
    classname = case.get("classname", "")
    path = case.get("file")
    if not path:
        return f"{classname}::{name}" if classname else name
    module = path.removesuffix(".py").replace("/", ".")
    inner = classname.removeprefix(module).lstrip(".")
    parts = [path, *inner.split(".")] if inner else [path]
    return "::".join([*parts, name])


_RANK = ["failed", "error", "skipped", "passed"]  # the worst outcome of a test's cases wins


def _outcome(case: ET.Element) -> str:
    tags = {child.tag for child in case}
    # A failing call ("failure") says more than a failing setup/teardown ("error").
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        if tag in tags:
            return outcome
    return "passed"


def read_junit(path: Path) -> dict[str, TestResult]:
    """Every test case of one run; raises ``ET.ParseError``/``OSError`` on a bad file."""
    results: dict[str, TestResult] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        nodeid, outcome = _nodeid(case), _outcome(case)
        failures = [child for child in case if child.tag in _FAILED]
        result = results.setdefault(nodeid, TestResult(nodeid, outcome))
        # a failed call and a failed teardown are two cases of one test: the worst wins
        result.outcome = min(result.outcome, outcome, key=_RANK.index)
        result.texts.extend(child.text or "" for child in failures)
        result.messages.extend(child.get("message", "") for child in failures)
    return results


def leak_reason(result: TestResult, lines: int) -> list[str]:
    """The first *lines* non-blank lines of the leak report(s) in *result*'s failures."""
    out: list[str] = []
    for text in result.texts:
        start = text.find(LEAK_MARK)
        if start < 0:
            continue
        body = [line.rstrip() for line in text[start:].splitlines() if line.strip()]
        out.extend(body[:lines])
        if len(out) >= lines:
            break
    return out[:lines]
