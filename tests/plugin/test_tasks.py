"""asyncio tasks a test leaves behind, on any loop, including the ones runners reap."""

from __future__ import annotations


def test_task_reaped_by_asyncio_run_is_reported_with_its_await_chain(run_leakcheck):
    result = run_leakcheck(
        """
        import asyncio

        async def produce(queue):
            for i in range(10):
                await queue.put(i)

        def test_forgotten_sender():
            async def main():
                queue = asyncio.Queue(maxsize=1)
                KEEP.append(asyncio.create_task(produce(queue), name="producer"))
                await queue.get()
            asyncio.run(main())

        KEEP = []  # unreferenced, the collector may destroy it first (a "destroyed task")
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "leakcheck: this test left 1 reaped task behind",
            "*reaped task 'producer' (cancelled at loop shutdown)",
            "*runs: test_inner.produce",
            "*note: still pending when its loop shut down*",
            '*File "test_inner.py", line 5, in produce',
            "*await queue.put(i)",
            "*in Queue.put",
            "*started at (most recent call last):",
            '*asyncio.create_task(produce(queue), name="producer")*',
        ]
    )


def test_task_started_while_the_runner_shuts_down_is_reported(run_leakcheck):
    # asyncio.run() reaps the loop's tasks, then finalizes async generators:
    # a task started by a generator's cleanup there is still pending when the
    # loop closes, after the runner's own reaping.
    result = run_leakcheck(
        """
        import asyncio

        KEEP = []

        async def ticker():
            try:
                while True:
                    yield 1
            finally:
                gate = asyncio.Event()
                KEEP.append(asyncio.get_running_loop().create_task(gate.wait(), name="late"))

        def test_leaves_a_generator_open():
            async def main():
                gen = ticker()
                await gen.__anext__()
                KEEP.append(gen)  # still open when the runner shuts down
            asyncio.run(main())
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "leakcheck: this test left 1 reaped task behind",
            "*'late'*",
            "*note: still pending when its loop shut down: abandoned when its event loop was clo*",
        ]
    )


def test_task_leaked_under_pytest_asyncio_is_reported(run_leakcheck):
    result = run_leakcheck(
        """
        import asyncio, pytest

        async def forever():
            await asyncio.Event().wait()

        KEEP = []  # a pending task nobody references may be garbage-collected first

        @pytest.mark.asyncio
        async def test_leaks_a_task():
            KEEP.append(asyncio.create_task(forever(), name="background"))
            await asyncio.sleep(0)

        @pytest.mark.asyncio
        async def test_awaits_its_task():
            task = asyncio.create_task(asyncio.sleep(0))
            await task
        """,
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_a_task*",
            "*task 'background'*",
            "*runs: test_inner.forever",
        ]
    )


def test_task_leaked_under_anyio_asyncio_backend_is_reported(run_leakcheck):
    result = run_leakcheck(
        """
        import asyncio, pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        async def forever():
            await asyncio.Event().wait()

        KEEP = []  # a pending task nobody references may be garbage-collected first

        @pytest.mark.anyio
        async def test_leaks_a_task():
            KEEP.append(asyncio.create_task(forever(), name="anyio-leak"))
            await asyncio.sleep(0)

        @pytest.mark.anyio
        async def test_clean():
            await asyncio.sleep(0)
        """
    )
    result.assert_outcomes(passed=2, errors=1)
    # exactly the test's task: anyio's own runner task is infrastructure
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_a_task*",
            "leakcheck: this test left 1 reaped task behind",
            "*'anyio-leak'*",
        ]
    )


def test_task_left_on_a_loop_running_in_another_thread(run_leakcheck):
    result = run_leakcheck(
        """
        import asyncio, threading

        async def forever():
            await asyncio.Event().wait()

        KEEP = []  # a pending task nobody references would be garbage-collected

        def test_leaks_loop_thread_and_task():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="loop-thread", daemon=True).start()
            async def spawn():
                return asyncio.create_task(forever(), name="on-other-loop")
            KEEP.append(asyncio.run_coroutine_threadsafe(spawn(), loop).result(timeout=60))
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    out = result.stdout.str()
    assert "leakcheck: this test left 1 task and 1 thread behind" in out
    result.stdout.fnmatch_lines(["*task 'on-other-loop' (on *EventLoop at * (running))"])
    result.stdout.fnmatch_lines(["*thread 'loop-thread'*"])


def test_task_on_a_stopped_loop_is_reported_without_waiting(run_leakcheck):
    result = run_leakcheck(
        """
        import asyncio

        LOOP = asyncio.new_event_loop()
        KEEP = []  # unreferenced, the collector may destroy it first (a "destroyed task")

        async def forever():
            await asyncio.Event().wait()

        def test_leaves_task_on_stopped_loop():
            LOOP.run_until_complete(asyncio.sleep(0))
            KEEP.append(LOOP.create_task(forever(), name="stranded"))
            LOOP.run_until_complete(asyncio.sleep(0))
        """,
        # a huge grace: the check must see that waiting cannot help
        "--leakcheck-timeout=600",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*task 'stranded'*(stopped, not closed)*", "*its loop is not running: it can never finish"]
    )


def test_a_thousand_leaked_tasks_give_a_short_report(run_leakcheck):
    result = run_leakcheck(
        """
        import asyncio

        KEEP = []  # pending tasks nobody references are garbage-collected

        async def forever(i):
            await asyncio.Event().wait()

        def test_leaks_many():
            async def main():
                for i in range(1000):
                    KEEP.append(asyncio.create_task(forever(i)))
                await asyncio.sleep(0)
            asyncio.run(main())
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["leakcheck: this test left 1000 reaped tasks behind", "*+ 999 more like it: *and 989 more"]
    )
    assert len(result.stdout.lines) < 120


def test_where_task_sets_cannot_be_counted_the_loops_seen_built_answer(run_leakcheck, pytester):
    # Python 3.14 keeps tasks per thread, in C: there the patches register
    # every loop built and ask each for its tasks. Simulated here by hiding
    # the module-level sets before the plugin installs its patches.
    pytester.makeconftest(
        """
        from pytest_leakcheck import _tasks
        _tasks._named = lambda: (None,)
        """
    )
    result = run_leakcheck(
        """
        import asyncio

        from pytest_leakcheck import _loops, _tasks

        KEEP = []

        async def forever():
            await asyncio.Event().wait()

        def test_leaves_a_task_on_an_open_loop():
            assert _tasks.module_tasks() is None and _loops.LOOPS.registry_needed()
            loop = asyncio.new_event_loop()
            KEEP.append(loop)
            KEEP.append(loop.create_task(forever(), name="left-on-an-open-loop"))
            loop.run_until_complete(asyncio.sleep(0))

        def test_innocent():
            asyncio.run(asyncio.sleep(0))
        """
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaves_a_task_on_an_open_loop*",
            "*task 'left-on-an-open-loop'*",
            "*started at (most recent call last):",
            '*KEEP.append(loop.create_task(forever(), name="left-on-an-open-loop"))',
        ]
    )
