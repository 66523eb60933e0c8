"""The pytest entry: ``-p leakcheck_kata.pytest_plugin --kata=TARGET`` adds kata[C1..C9]."""

from __future__ import annotations

import pytest

from .conftest import SUBMISSIONS

PLUGIN = ("-p", "leakcheck_kata.pytest_plugin", "-p", "no:cacheprovider")


def test_one_item_per_criterion_with_the_verdict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_own():\n    pass\n")
    target = SUBMISSIONS / "bad_ignore_bound.py"
    result = pytester.runpytest(*PLUGIN, f"--kata={target}", "--kata-only=C4,C9", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_own PASSED*",
            "*kata?C4? FAILED*",
            "*kata?C9? PASSED*",
            "*reason: max_concurrency=4: * requests in flight at once, more than 4*",
        ]
    )


def test_ungradable_submission_fails_each_item_with_the_message(pytester: pytest.Pytester) -> None:
    target = SUBMISSIONS / "shape_not_cm.py"
    result = pytester.runpytest(*PLUGIN, f"--kata={target}", "--kata-only=C1,C2")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*cannot grade: *returned list, not an async context manager*"])


def test_off_without_kata(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_own():\n    pass\n")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=1)
    assert "kata[" not in result.stdout.str()


def test_unknown_criterion_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*PLUGIN, "--kata=fetcher:DataFetcher", "--kata-only=C0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
