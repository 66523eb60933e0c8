"""Ecosystem: pytest-xdist. Workers check their own tests; the controller sums up once.

xdist inner runs start worker interpreters (a few seconds each on a slow
machine), so one serial run and one ``-n 2`` run of the same module carry
every assertion.
"""

from __future__ import annotations

import json
import re

import pytest

LEAKY_MODULE = """
    import asyncio
    import threading

    stop = threading.Event()

    async def forever():
        await asyncio.Event().wait()

    def test_leaks_a_thread():
        threading.Thread(target=stop.wait, name="xdist-thread", daemon=True).start()

    def test_innocent_one():
        pass

    def test_leaks_a_task():
        async def main():
            asyncio.create_task(forever(), name="xdist-task")
            await asyncio.sleep(0)

        asyncio.run(main())

    def test_innocent_two():
        pass

    def test_joins_its_thread():
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()

    def test_innocent_three():
        pass
"""


def _errors(result: pytest.RunResult) -> set[str]:
    return set(re.findall(r"^ERROR (\S+)(?: - |$)", result.stdout.str(), re.M))


def _leaky_lines(result: pytest.RunResult) -> set[str]:
    return {
        line.strip()
        for line in result.stdout.str().splitlines()
        if line.startswith("  test_inner.py::") and "(s)" in line
    }


def test_xdist_catches_what_a_serial_run_catches_and_merges_one_summary(run_leakcheck, pytester):
    serial = run_leakcheck(LEAKY_MODULE)
    serial.assert_outcomes(passed=6, errors=2)

    report = pytester.path / "leaks.json"
    parallel = run_leakcheck(LEAKY_MODULE, "-n", "2", f"--leakcheck-report={report}")
    parallel.assert_outcomes(passed=6, errors=2)

    assert (
        _errors(parallel)
        == _errors(serial)
        == {
            "test_inner.py::test_leaks_a_thread",
            "test_inner.py::test_leaks_a_task",
        }
    )
    out = parallel.stdout.str()
    # one merged section on the controller, every worker's tests counted in it
    assert len(re.findall(r"=+ leakcheck =+", out)) == 1
    parallel.stdout.fnmatch_lines(["6 test(s) checked; 2 left stragglers*"])
    assert (
        _leaky_lines(parallel)
        == _leaky_lines(serial)
        == {
            "test_inner.py::test_leaks_a_thread: 1 thread(s)",
            "test_inner.py::test_leaks_a_task: 1 reaped task(s)",
        }
    )
    # the worker's thread is still alive at its session end, said once, with its worker
    parallel.stdout.fnmatch_lines(
        ["still alive at session end: 1 thread", "  thread 'xdist-thread' (*, on gw*) runs *"]
    )
    # the failure report itself travels from the worker, stacks and all
    parallel.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_a_thread*",
            "*thread 'xdist-thread'*",
            "*started: during call of test_inner.py::test_leaks_a_thread",
        ]
    )

    data = json.loads(report.read_text())
    assert data["tests_checked"] == 6
    assert sorted(leak["test"] for leak in data["leaks"]) == [
        "test_inner.py::test_leaks_a_task",
        "test_inner.py::test_leaks_a_thread",
    ]
    assert all(leak["worker"].startswith("gw") for leak in data["leaks"])
    assert [leak["name"] for leak in data["alive_at_session_end"]] == ["xdist-thread"]
