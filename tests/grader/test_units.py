"""Small pure parts of the grader: criterion selection, JSON round trip, rendering."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from leakcheck_kata.catalog import CRITERIA, select
from leakcheck_kata.model import Grade, Verdict
from leakcheck_kata.report import render_json, render_text


def test_the_nine_public_criteria() -> None:
    assert [(c.id, c.name) for c in CRITERIA] == [
        ("C1", "complete"),
        ("C2", "streaming"),
        ("C3", "errors as results"),
        ("C4", "bounded concurrency"),
        ("C5", "forgotten sender"),
        ("C6", "cancel before first receive"),
        ("C7", "close discipline"),
        ("C8", "partial results"),
        ("C9", "consumer exception"),
    ]


def test_select() -> None:
    assert [c.id for c in select(None)] == [f"C{i}" for i in range(1, 10)]
    assert [c.id for c in select("c7, C5")] == ["C5", "C7"]
    with pytest.raises(ValueError, match="unknown criterion C0"):
        select("C0,C1")


def test_verdict_json_round_trip() -> None:
    v = Verdict("C5", "forgotten sender", False, "left 49 tasks", 0.5, "stacks", ["a note"])
    data = v.to_json()
    assert data["verdict"] == "FAIL"
    assert Verdict.from_json(json.loads(json.dumps(data))) == v


def _grade() -> Grade:
    return Grade(
        "sub.py",
        "asyncio",
        [
            Verdict("C1", "complete", True, "9 URLs complete", 0.1),
            Verdict(
                "C5",
                "forgotten sender",
                False,
                "break: the submission left 49 tasks behind when __aexit__ returned",
                0.04,
                "leakcheck: the submission left 49 tasks behind\n  [1] task 'Task-3'",
            ),
        ],
        1.5,
    )


def test_text_report_has_table_then_evidence() -> None:
    text = render_text(_grade())
    table, _, evidence = text.partition("=== C5 forgotten sender: FAIL")
    assert "C1  complete" in table and "PASS" in table
    assert "C5  forgotten sender" in table and "FAIL" in table
    assert "FAIL: 1/2 criteria passed" in table
    assert "[1] task 'Task-3'" in evidence
    assert "reason: break: the submission left 49 tasks" in evidence


def test_json_report() -> None:
    data = json.loads(render_json(_grade()))
    assert data["passed"] is False
    assert [(c["id"], c["verdict"]) for c in data["criteria"]] == [("C1", "PASS"), ("C5", "FAIL")]
    assert data["criteria"][1]["evidence"].startswith("leakcheck:")


def test_a_timing_failure_during_a_machine_stall_is_measured_again() -> None:
    import anyio

    from leakcheck_kata import criteria
    from leakcheck_kata.stalls import HEARTBEAT, Heartbeat

    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        if len(calls) == 1:
            now = criteria.now()
            HEARTBEAT._gaps.append((now - 0.01, now))  # as if the process had been frozen
            raise criteria.Failed("break: __aexit__ returned 0.40 s after leaving", timing=True)
        return "ok"

    ctx = criteria.Context(sub=None, backend="asyncio")  # type: ignore[arg-type]
    assert anyio.run(criteria.measured, ctx, "break", attempt) == "ok"
    assert len(calls) == 2
    assert ctx.notes and "stalled the grader" in ctx.notes[0]

    async def always_late() -> str:
        raise criteria.Failed("late, and no stall", timing=True)

    with pytest.raises(criteria.Failed, match="no stall"):
        anyio.run(criteria.measured, ctx, "x", always_late)
    assert Heartbeat().worst_stall(0.0, 1e9) == 0.0


def test_a_hang_guard_concludes_with_the_judges_verdict_unless_stood_down() -> None:
    import threading

    from leakcheck_kata.hangs import Conclusion, HangGuard

    concluded: list[Conclusion] = []
    fired = threading.Event()

    def conclude(conclusion: Conclusion) -> None:
        concluded.append(conclusion)
        fired.set()

    verdict = Conclusion(False, "the block hangs", "stacks")
    guard = HangGuard(conclude, 0.0, lambda: verdict)
    guard.start()
    assert fired.wait(60)
    guard.cancel()
    assert concluded == [verdict]

    stood_down = HangGuard(conclude, 0.0, lambda: verdict)
    stood_down.cancel()
    stood_down.start()  # after cancel(): never counts
    with HangGuard(None, 0.0, lambda: verdict):  # outside the worker: inert
        pass
    assert concluded == [verdict]


def test_the_mock_serves_a_sync_client_in_its_own_thread() -> None:
    import threading

    import anyio
    import httpx

    from leakcheck_kata.mock import MockWeb, body_of

    async def main() -> None:
        web = MockWeb()
        with web:
            held = web.add("held")
            web.hold_until(2, timeout=60)  # the sync request waits for the async one
            got: list[httpx.Response] = []

            def sync_get() -> None:
                with httpx.Client() as client:
                    got.append(client.get(held))

            thread = threading.Thread(target=sync_get, name="kata-grader test")
            thread.start()
            async with httpx.AsyncClient() as client:
                response = await client.get(held)
            await anyio.to_thread.run_sync(thread.join)
            assert web.peak == 2 and web.in_flight == 0 and web.finished[held] == 2
            assert response.content == got[0].content == body_of(held)
            timeout = web.add("timeout", failure=httpx.ReadTimeout)
            with httpx.Client() as client, pytest.raises(httpx.ReadTimeout):
                client.get(timeout)

    anyio.run(main)


def test_a_borderline_timing_failure_is_retried_once_and_said() -> None:
    import anyio

    from leakcheck_kata import criteria

    calls: list[float] = []

    def late_by(took: float) -> Callable[[], Awaitable[str]]:
        async def attempt() -> str:
            calls.append(took)
            raise criteria.Failed(f"ended {took:.2f} s after the cancel", timing=True, took=took)

        return attempt

    ctx = criteria.Context(sub=None, backend="asyncio")  # type: ignore[arg-type]
    with pytest.raises(criteria.Failed, match=r"0\.40 s"):
        anyio.run(criteria.measured, ctx, "move_on_after", late_by(0.4))
    assert calls == [0.4, 0.4]
    assert len(ctx.notes) == 1 and "move_on_after: retried once" in ctx.notes[0]

    calls.clear()
    with pytest.raises(criteria.Failed, match=r"5\.00 s"):  # far off the bound: slow on its own
        anyio.run(criteria.measured, ctx, "break", late_by(5.0))
    assert calls == [5.0]


def test_fetch_is_only_called_inside_a_running_loop() -> None:
    """A valid answer may take the running loop in fetch(): the shape check runs in one."""
    import asyncio
    import contextlib

    import anyio

    from leakcheck_kata.loader import Submission, check_manager
    from leakcheck_kata.model import SubmissionError

    class NeedsLoop:
        def __init__(self, client: object = None, *, max_concurrency: int | None = None) -> None:
            pass

        def fetch(self, urls: list[str]) -> contextlib.AbstractAsyncContextManager[None]:
            asyncio.get_running_loop()
            return contextlib.nullcontext()

    class ReturnsList(NeedsLoop):
        def fetch(self, urls: list[str]) -> list[str]:  # type: ignore[override]
            return urls

    anyio.run(check_manager, Submission("needs_loop.py", NeedsLoop, None))
    with pytest.raises(SubmissionError, match="returned list, not an async context manager"):
        anyio.run(check_manager, Submission("returns_list.py", ReturnsList, None))


def test_c3_accepts_any_httpx_timeout_for_the_timeout_url() -> None:
    import httpx

    from leakcheck_kata import criteria

    @dataclass
    class Result:
        url: str
        body: bytes | None
        error: Exception | None

    url = "https://kata.test/readtimeout"
    for error in (httpx.ReadTimeout("read"), httpx.PoolTimeout("pool")):
        criteria._check_error_result("x", Result(url, None, error), httpx.TimeoutException)
    with pytest.raises(criteria.Failed, match=r"expected an httpx\.TimeoutException"):
        criteria._check_error_result(
            "x", Result(url, None, httpx.ConnectError("no")), httpx.TimeoutException
        )
