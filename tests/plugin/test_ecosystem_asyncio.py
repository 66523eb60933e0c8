"""Ecosystem: pytest-asyncio 1.x, unittest (TestCase, IsolatedAsyncioTestCase), doctest.

Each case is one inner session holding every variant, so the whole file
costs a few inner runs; the assertions say which test (or fixture) each
straggler is blamed on, and that the innocent neighbours pass.
"""

from __future__ import annotations

PYTEST_ASYNCIO = """
    import asyncio

    import pytest
    import pytest_asyncio

    # A pending task nothing refers to can be garbage-collected (asyncio holds
    # tasks weakly), and then there is nothing left to report: keep them.
    keep = []

    async def forever():
        await asyncio.Event().wait()

    @pytest.mark.asyncio
    async def test_function_loop_leaks():
        asyncio.create_task(forever(), name="function-loop-leak")
        await asyncio.sleep(0)

    @pytest.mark.asyncio
    async def test_function_loop_cleans_up():
        task = asyncio.create_task(forever())
        await asyncio.sleep(0)
        task.cancel()

    @pytest_asyncio.fixture
    async def function_fixture():
        asyncio.create_task(forever(), name="function-fixture-leak")
        yield

    @pytest.mark.asyncio
    async def test_uses_leaky_function_fixture(function_fixture):
        pass

    @pytest_asyncio.fixture(loop_scope="module", scope="module")
    async def module_fixture():
        keep.append(asyncio.create_task(forever(), name="module-fixture-leak"))
        yield

    @pytest.mark.asyncio(loop_scope="module")
    async def test_module_loop_leaks(module_fixture):
        # the module loop outlives this test: the task is still pending on it
        keep.append(asyncio.create_task(forever(), name="module-loop-leak"))
        await asyncio.sleep(0)

    @pytest.mark.asyncio(loop_scope="module")
    async def test_module_loop_innocent(module_fixture):
        await asyncio.sleep(0)

    @pytest_asyncio.fixture(loop_scope="session", scope="session")
    async def session_fixture():
        task = asyncio.create_task(forever(), name="session-fixture-cleans-up")
        yield
        task.cancel()

    @pytest.mark.asyncio(loop_scope="session")
    async def test_session_loop_leaks(session_fixture):
        keep.append(asyncio.create_task(forever(), name="session-loop-leak"))
        await asyncio.sleep(0)

    @pytest.mark.asyncio(loop_scope="session")
    async def test_session_loop_innocent(session_fixture):
        await asyncio.sleep(0)
"""


def test_pytest_asyncio_every_loop_scope_and_fixture_scope(run_leakcheck):
    result = run_leakcheck(PYTEST_ASYNCIO, "-o", "asyncio_default_fixture_loop_scope=function")
    # 4 leaking tests fail at teardown; the module fixture is reported against
    # itself, at the teardown during which pytest finalizes it (a 5th error).
    result.assert_outcomes(passed=7, errors=5)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_function_loop_leaks*",
            "leakcheck: this test left 1 reaped task behind",
            "*reaped task 'function-loop-leak' (cancelled at loop shutdown)",
            "*started: during call of test_inner.py::test_function_loop_leaks",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_uses_leaky_function_fixture*",
            "*reaped task 'function-fixture-leak'*",
            "*started: during setup of test_inner.py::test_uses_leaky_function_fixture",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_module_loop_leaks*",
            "leakcheck: this test left 1 task behind",
            "*task 'module-loop-leak' (on *(stopped, not closed))",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_*",
            "leakcheck: fixture 'module_fixture' (module scope) left 1 task behind",
            "*task 'module-fixture-leak'*",
            "*started: during setup of fixture 'module_fixture' (module scope)",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_session_loop_leaks*", "*task 'session-loop-leak'*"]
    )
    # Blame stays put: no innocent test is blamed for a neighbour's straggler.
    for innocent in ("test_module_loop_innocent", "test_session_loop_innocent"):
        assert "this test left" not in _section(out, innocent)
    assert "session-fixture-cleans-up" not in out
    assert out.count("leakcheck: fixture 'module_fixture'") == 1


def _section(out: str, test: str) -> str:
    """The failure section of *test* (up to the next section header)."""
    start = out.find(f"ERROR at teardown of {test}")
    if start < 0:
        return ""
    end = out.find("____", start + len(test) + 30)
    return out[start : end if end > 0 else len(out)]


UNITTEST_AND_DOCTEST = '''
    import asyncio
    import threading
    import unittest

    stop = threading.Event()

    async def forever():
        await asyncio.Event().wait()

    class Plain(unittest.TestCase):
        def test_leaks_a_thread(self):
            threading.Thread(target=stop.wait, name="testcase-thread", daemon=True).start()

        def test_innocent(self):
            pass

    class Async(unittest.IsolatedAsyncioTestCase):
        async def test_leaks_a_task(self):
            asyncio.create_task(forever(), name="isolated-task")
            await asyncio.sleep(0)

        async def test_cleans_up(self):
            task = asyncio.create_task(forever())
            await asyncio.sleep(0)
            task.cancel()

    def leaky_doctest():
        """
        >>> threading.Thread(target=stop.wait, name="doctest-thread", daemon=True).start()
        """

    def clean_doctest():
        """
        >>> 1 + 1
        2
        """
'''


def test_unittest_isolated_asyncio_and_doctest_items(run_leakcheck):
    result = run_leakcheck(UNITTEST_AND_DOCTEST, "--doctest-modules")
    result.assert_outcomes(passed=6, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of Plain.test_leaks_a_thread*",
            "*thread 'testcase-thread'*",
            "*started: during call of test_inner.py::Plain::test_leaks_a_thread",
        ]
    )
    # IsolatedAsyncioTestCase cancels leftovers when it closes its loop (its own
    # runner on 3.10, asyncio.Runner on 3.11+): reported as reaped, like asyncio.run.
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of Async.test_leaks_a_task*",
            "leakcheck: this test left 1 reaped task behind",
            "*reaped task 'isolated-task' (cancelled at loop shutdown)",
            "*runs: test_inner.forever",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of [[]doctest[]] test_inner.leaky_doctest*",
            "*thread 'doctest-thread'*",
        ]
    )
    summary = result.stdout.str().split("short test summary")[-1]
    assert "innocent" not in summary
    assert "cleans_up" not in summary
    assert "clean_doctest" not in summary
