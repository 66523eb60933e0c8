"""Ecosystem: anyio's pytest plugin, on the asyncio backend and on the trio backend.

trio keeps no registry of its tasks; the plugin walks each trio run's task
tree from its root task (``_trio``), so a task left in a system nursery or in
a nursery a higher-scoped fixture opened is found, and one still in the
system nursery when the run ends is reported as reaped. trio's cached
threads are idle pool workers, not leaks.
"""

from __future__ import annotations

ANYIO_BOTH_BACKENDS = """
    import anyio
    import pytest

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(request):
        return request.param

    async def forever():
        await anyio.sleep_forever()

    @pytest.mark.anyio
    async def test_task_group_cleans_up():
        async with anyio.create_task_group() as tg:
            tg.start_soon(forever)
            await anyio.sleep(0)
            tg.cancel_scope.cancel()

    @pytest.mark.anyio
    async def test_worker_threads_are_pool_workers():
        # anyio's worker threads and trio's thread cache stay parked: not leaks
        assert await anyio.to_thread.run_sync(lambda: 42) == 42

    @pytest.mark.anyio
    async def test_asyncio_leak(anyio_backend):
        if anyio_backend != "asyncio":
            pytest.skip("asyncio only")
        import asyncio

        asyncio.create_task(forever(), name="anyio-asyncio-leak")
        await anyio.sleep(0)
"""


def test_anyio_on_asyncio_and_trio_clean_code_passes_and_asyncio_leak_is_reaped(
    run_leakcheck,
):
    result = run_leakcheck(ANYIO_BOTH_BACKENDS)
    result.assert_outcomes(passed=5, skipped=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_asyncio_leak[[]asyncio[]]*",
            "leakcheck: this test left 1 reaped task behind",
            "*reaped task 'anyio-asyncio-leak' (cancelled at loop shutdown)",
            "*started: during call of test_inner.py::test_asyncio_leak[[]asyncio[]]",
        ]
    )


TRIO_TASK_TREES = """
    import anyio
    import pytest
    import trio

    @pytest.fixture(scope="module")
    def anyio_backend():
        return "trio"

    async def forever():
        await trio.sleep_forever()

    # plain trio.run first: no trio.run while anyio's guest run is alive
    def test_plain_trio_run_leaves_a_system_task():
        async def main():
            trio.lowlevel.spawn_system_task(forever, name="reaped-at-run-end")
            await trio.sleep(0)

        trio.run(main)

    def test_plain_trio_run_thread_cache():
        async def main():
            await trio.to_thread.run_sync(lambda: None)

        trio.run(main)

    @pytest.fixture(scope="module")
    async def nursery():
        # a module-scoped async fixture keeps anyio's trio run alive across tests
        async with trio.open_nursery() as nursery:
            yield nursery
            nursery.cancel_scope.cancel()

    @pytest.mark.anyio
    async def test_leaks_into_the_module_nursery(nursery):
        nursery.start_soon(forever, name="in-fixture-nursery")

    @pytest.mark.anyio
    async def test_leaks_into_the_system_nursery(nursery):
        trio.lowlevel.spawn_system_task(forever, name="in-system-nursery")

    @pytest.mark.anyio
    async def test_innocent(nursery):
        await trio.sleep(0)

    @pytest.mark.anyio
    async def test_mid_test_check_inside_trio(nursery, leakcheck):
        async with trio.open_nursery() as inner:
            inner.start_soon(forever, name="mid-test")
            await trio.sleep(0)
            leaks = await leakcheck.find_leaks_async(timeout=0)
            assert [leak.name for leak in leaks] == ["mid-test"]
            inner.cancel_scope.cancel()
        assert await leakcheck.find_leaks_async() == []
"""


def test_trio_tasks_in_fixture_and_system_nurseries_are_found_by_walking_the_tree(
    run_leakcheck,
):
    result = run_leakcheck(TRIO_TASK_TREES)
    result.assert_outcomes(passed=6, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_into_the_module_nursery*",
            "leakcheck: this test left 1 task behind",
            "*task 'in-fixture-nursery' (trio task, in a nursery of trio task *)",
            "*runs: test_inner.forever",
            "*started: during call of test_inner.py::test_leaks_into_the_module_nursery",
            "*started at (most recent call last):",
            '*File "test_inner.py", line *, in test_leaks_into_the_module_nursery',
            '*nursery.start_soon(forever, name="in-fixture-nursery")',
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_into_the_system_nursery*",
            "leakcheck: this test left 1 task behind",
            "*task 'in-system-nursery' (trio task, in a system nursery of its trio run)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_plain_trio_run_leaves_a_system_task*",
            "leakcheck: this test left 1 reaped task behind",
            "*reaped task 'reaped-at-run-end'*",
            "*cancelled by trio with its system nursery when the run's main task returned*",
        ]
    )
    summary = result.stdout.str().split("short test summary")[-1]
    assert "test_innocent" not in summary
    assert "thread_cache" not in summary


def test_anyio_runner_call_task_is_recorded_without_a_start_site(run_leakcheck):
    # It is infrastructure whatever it does, so no report shows where it
    # started: run_until_complete recognises it (once per run, not a check
    # per start) and its start walks no stack. A task the test starts still
    # gets its site.
    result = run_leakcheck(
        """
        import asyncio
        import pytest
        from pytest_leakcheck._provenance import PROVENANCE

        pytestmark = pytest.mark.anyio

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        async def test_sites():
            calls = [
                PROVENANCE.task_origins.get(task)
                for task in asyncio.all_tasks()
                if task.get_coro().__qualname__ == "TestRunner._call_in_runner_task"
            ]
            assert len(calls) == 1 and calls[0] is not None
            assert calls[0].sites is None and calls[0].owner is not None  # still owned
            child = asyncio.create_task(asyncio.sleep(0))
            await child
            site = PROVENANCE.task_origins.get(child).stack
            assert site is not None and "test_sites" in [r.qualname for r in site]
        """
    )
    result.assert_outcomes(passed=1)
