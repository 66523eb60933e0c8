"""The grader's verdicts on its corpus: exactly what each file declares, for its reason.

Every file is graded on asyncio with its full vector; trio gets a smaller
sample (the anyio-based submissions), which keeps the grader's own run short.
The corpus defects fail by a wide margin (a leak, an exception, a hang, a
multi-second wait), so no assertion here rests on tight timing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from leakcheck_kata import Grade

from .conftest import corpus, expectation

TRIO_SAMPLE = ("good_worker_pool", "bad_wrap_consumer_exc", "bad_trio_system_tasks")

CASES = [
    pytest.param(name, "asyncio", id=f"{name}-asyncio")
    for name in corpus("good_") + corpus("bad_") + corpus("iso_")
    if "asyncio" in expectation(name).backends
]
CASES += [pytest.param(name, "trio", id=f"{name}-trio") for name in TRIO_SAMPLE]


def _show(grade: Grade) -> str:
    from leakcheck_kata.report import render_text

    return render_text(grade)


@pytest.mark.parametrize(("name", "backend"), CASES)
def test_corpus_verdicts(name: str, backend: str, graded: Callable[[str, str], Grade]) -> None:
    exp = expectation(name)
    if sys.version_info < exp.min_python:
        pytest.skip(f"{name} needs Python {'.'.join(map(str, exp.min_python))}+")
    assert backend in exp.backends
    result = graded(name, backend)
    assert result.vector() == exp.vector(backend), _show(result)
    by_id = {v.id: v for v in result.verdicts}
    for cid, needle in exp.reasons.items():
        assert needle in by_id[cid].reason, _show(result)
    for verdict in result.verdicts:
        if not verdict.passed:
            assert verdict.reason and "\n" not in verdict.reason


def test_every_criterion_is_failed_by_some_broken_submission() -> None:
    failing = {
        cid
        for name in corpus("bad_")
        if "asyncio" in expectation(name).backends
        for cid, label in expectation(name).expected.items()
        if label == "FAIL"
    }
    assert failing == {f"C{i}" for i in range(1, 10)}


def test_leak_evidence_names_the_stuck_producer(graded: Callable[[str, str], Grade]) -> None:
    """C5's evidence is the plugin's report: which task, where it is stuck, where started."""
    c5 = next(v for v in graded("bad_detached_bounded_queue", "asyncio").verdicts if v.id == "C5")
    assert "49 tasks" in c5.reason
    assert "_produce" in c5.evidence
    assert "started at" in c5.evidence


def test_thread_leak_evidence(graded: Callable[[str, str], Grade]) -> None:
    c5 = next(v for v in graded("bad_threads_full_queue", "asyncio").verdicts if v.id == "C5")
    assert "thread" in c5.reason
    assert "_work" in c5.evidence


def test_exception_evidence_is_the_traceback(graded: Callable[[str, str], Grade]) -> None:
    c9 = next(v for v in graded("bad_wrap_consumer_exc", "asyncio").verdicts if v.id == "C9")
    assert "wrapped in ExceptionGroup" in c9.reason
    assert "KataBodyError" in c9.evidence and "Traceback" in c9.evidence


def test_timing_evidence_gives_the_figure_and_bound(graded: Callable[[str, str], Grade]) -> None:
    c5 = next(v for v in graded("bad_swallow_cancel", "asyncio").verdicts if v.id == "C5")
    assert "bound 0.25 s" in c5.reason


def test_trio_says_which_cancellation_styles_stand_in(graded: Callable[[str, str], Grade]) -> None:
    c6 = next(v for v in graded("good_worker_pool", "trio").verdicts if v.id == "C6")
    assert c6.passed
    assert any("trio has no Task.cancel()" in note for note in c6.notes)


def test_trio_leak_evidence(graded: Callable[[str, str], Grade]) -> None:
    """On trio too, the report names the leaked task and where it lives."""
    c5 = next(v for v in graded("bad_trio_system_tasks", "trio").verdicts if v.id == "C5")
    assert "trio task" in c5.evidence and "_produce" in c5.evidence


def test_a_hang_is_graded_by_the_hang_guard_with_the_stacks(
    graded: Callable[[str, str], Grade],
) -> None:
    """Not the process's time limit: the guard's reason, the tasks' and threads' stacks."""
    c9 = next(v for v in graded("bad_hang_on_consumer_exc", "asyncio").verdicts if v.id == "C9")
    assert "had not ended 3 s after the body raised" in c9.reason
    assert "where every thread was when the grader gave up" in c9.evidence
    assert "where the grader's task waits on the block" in c9.evidence
    assert 'bad_hang_on_consumer_exc.py", line 29, in __aexit__' in c9.evidence


def test_c8_judges_what_was_received_and_leaves_a_hang_to_c6(
    graded: Callable[[str, str], Grade],
) -> None:
    by_id = {v.id: v for v in graded("bad_swallow_cancel", "asyncio").verdicts}
    assert by_id["C8"].passed and not by_id["C6"].passed
