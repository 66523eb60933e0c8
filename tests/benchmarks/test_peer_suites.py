"""The peer-suite harness reads pytest's JUnit XML right and sorts tests right.

Its verdicts (flagged, broken) are what issue 16 is judged by, so the parsing is
checked against a real pytest run's XML (node ids with classes and parameters,
call failures, teardown failures, skips), not against hand-written XML.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import peer_suites
from _junit import TestResult, leak_reason, read_junit

INNER = """
import pytest


@pytest.fixture
def leaky():
    yield
    pytest.fail("leakcheck: this test left 1 thread behind\\n\\n[1] thread 'serve'", pytrace=False)


class TestGroup:
    @pytest.mark.parametrize("n", [1, 2])
    def test_param(self, n):
        assert n


def test_fails():
    assert False, "plain failure"


def test_leaks(leaky):
    pass


def test_fails_and_leaks(leaky):
    assert False


def test_skipped():
    pytest.skip("no")
"""


@pytest.fixture
def junit(pytester: pytest.Pytester) -> dict[str, TestResult]:
    pytester.makepyfile(test_inner=textwrap.dedent(INNER))
    xml = pytester.path / "out.xml"
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-o", "junit_family=xunit1", f"--junitxml={xml}"
    )
    return read_junit(xml)


def test_node_ids_and_outcomes_match_pytest(junit: dict[str, TestResult]) -> None:
    outcomes = {nodeid: result.outcome for nodeid, result in junit.items()}
    assert outcomes == {
        "test_inner.py::TestGroup::test_param[1]": "passed",
        "test_inner.py::TestGroup::test_param[2]": "passed",
        "test_inner.py::test_fails": "failed",
        "test_inner.py::test_leaks": "error",
        "test_inner.py::test_fails_and_leaks": "failed",
        "test_inner.py::test_skipped": "skipped",
    }
    flagged = sorted(nodeid for nodeid, result in junit.items() if result.flagged)
    assert flagged == ["test_inner.py::test_fails_and_leaks", "test_inner.py::test_leaks"]
    assert leak_reason(junit["test_inner.py::test_leaks"], 2) == [
        "leakcheck: this test left 1 thread behind",
        "[1] thread 'serve'",
    ]


def _run(config: str, outcomes: dict[str, tuple[str, str]]) -> peer_suites.Run:
    results = {
        n: TestResult(n, outcome, [text] if text else []) for n, (outcome, text) in outcomes.items()
    }
    return peer_suites.Run(config, 1, 1, 10.0, 20.0, "log", results)


def test_compare_sorts_flagged_and_broken() -> None:
    plain = _run(
        "plain",
        {
            "t::leak": ("passed", ""),
            "t::broken": ("passed", ""),
            "t::bad": ("failed", "plain failure"),
            "t::ok": ("passed", ""),
        },
    )
    leak = _run(
        "leakcheck",
        {
            "t::leak": ("error", "leakcheck: this test left 1 task behind"),
            "t::broken": ("failed", "AssertionError: extra referrers"),
            "t::bad": ("failed", "plain failure"),
            "t::ok": ("passed", ""),
        },
    )
    leak.cpu = 12.0
    report = peer_suites.compare(peer_suites.SUITES["asgiref"], [plain, leak], lines=3)
    assert list(report.flagged) == ["t::leak"]
    assert report.flagged["t::leak"]["reason"] == ["leakcheck: this test left 1 task behind"]
    assert list(report.broken) == ["t::broken"]
    assert report.cpu_ratio() == pytest.approx(1.2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rounds", "0"], "--rounds must be a whole number >= 1, got '0'"),
        (["--nice", "x"], "--nice must be a whole number 0..19, got 'x'"),
        (["--run-timeout", "nan"], "--run-timeout must be a finite number of seconds > 0"),
        (["--suite", "nope"], "invalid choice: 'nope'"),
        (["--project", "/"], "--project must be a pytest-leakcheck checkout"),
    ],
)
def test_bad_options_are_named(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        peer_suites.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
