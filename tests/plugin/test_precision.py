"""The blame model's rules, each with the shape that once broke it on a real suite.

A straggler is the business of the one test (or fixture) that caused it, and
of no later test; library infrastructure is nobody's; the checks never keep
what the code under test could observe. Each case is a real inner run whose
later tests are innocent and must pass.
"""

from __future__ import annotations

import importlib.util

import pytest

needs_uvloop = pytest.mark.skipif(
    importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed here"
)

# -- 1. Blame once -----------------------------------------------------------------


def test_a_stuck_pool_job_is_blamed_once_after_each_kind_of_shutdown(run_leakcheck):
    """``shutdown(wait=False)`` and ``loop.close()`` leave a wake-up marker in the
    stuck worker's queue: that is not new work for the tests that follow."""
    result = run_leakcheck(
        """
        import asyncio
        import threading
        from concurrent.futures import ThreadPoolExecutor

        STUCK = threading.Event()

        def test_executor_shutdown_without_wait():
            ex = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stuck-ex")
            ex.submit(STUCK.wait)
            ex.shutdown(wait=False)

        def test_innocent_after_the_executor():
            pass

        def test_run_in_executor_then_loop_close():
            loop = asyncio.new_event_loop()
            loop.run_in_executor(None, STUCK.wait)
            loop.close()

        def test_innocent_with_its_own_pool():
            with ThreadPoolExecutor(max_workers=2) as ex:
                assert ex.submit(sum, [1, 2]).result() == 3

        def test_innocent_last():
            t = threading.Thread(target=lambda: None)
            t.start()
            t.join()

        def test_zz_release():
            STUCK.set()
        """
    )
    result.assert_outcomes(passed=6, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_executor_shutdown_without_wait*",
            "*ERROR at teardown of test_run_in_executor_then_loop_close*",
        ]
    )
    assert "ERROR at teardown of test_innocent" not in result.stdout.str()


def test_an_abandoned_anyio_worker_is_blamed_once(run_leakcheck):
    result = run_leakcheck(
        """
        import threading
        from functools import partial

        import anyio
        import pytest

        pytestmark = pytest.mark.anyio
        STARTED, RELEASE = threading.Event(), threading.Event()

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        def blocker():
            STARTED.set()
            RELEASE.wait()

        async def test_abandons_a_worker_thread():
            async with anyio.create_task_group() as tg:
                tg.start_soon(partial(anyio.to_thread.run_sync, blocker, abandon_on_cancel=True))
                await anyio.to_thread.run_sync(STARTED.wait)
                tg.cancel_scope.cancel()

        async def test_innocent_uses_the_pool():
            assert await anyio.to_thread.run_sync(sum, [1, 2]) == 3

        async def test_innocent_uses_it_again():
            assert await anyio.to_thread.run_sync(sum, [3, 4]) == 7

        def test_zz_release():
            RELEASE.set()
        """
    )
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_abandons_a_worker_thread*"])


# -- 2. Provenance across threads ------------------------------------------------------


def test_what_a_thread_from_before_the_test_starts_on_its_own_is_not_the_tests(run_leakcheck):
    """A scheduler started at import re-arms a Timer on every tick."""
    result = run_leakcheck(
        """
        import threading

        TICK = threading.Event()
        ARMED = threading.Event()

        def scheduler():
            timer = None
            while True:
                TICK.wait()
                TICK.clear()
                if timer is not None:
                    timer.cancel()
                timer = threading.Timer(3600, print)
                timer.daemon = True
                timer.start()
                ARMED.set()

        threading.Thread(target=scheduler, name="scheduler", daemon=True).start()

        def tick():
            ARMED.clear()
            TICK.set()
            assert ARMED.wait(60)

        def test_one_tick():
            tick()

        def test_another_tick():
            tick()
        """
    )
    result.assert_outcomes(passed=2)


def test_a_task_handed_to_a_loop_in_another_thread_is_the_tests(run_leakcheck):
    """The loop's thread was started at import; the task is the test's all the same."""
    result = run_leakcheck(
        """
        import asyncio
        import threading

        LOOP = asyncio.new_event_loop()
        threading.Thread(target=LOOP.run_forever, name="loop-thread", daemon=True).start()
        KEEP = []

        async def serve_forever():
            await asyncio.Event().wait()

        def test_hands_a_task_to_the_loop():
            made = threading.Event()

            def make():
                KEEP.append(LOOP.create_task(serve_forever(), name="handed-over"))
                made.set()

            LOOP.call_soon_threadsafe(make)
            assert made.wait(60)

        def test_innocent_after():
            done = threading.Event()
            LOOP.call_soon_threadsafe(done.set)
            assert done.wait(60)
        """
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_hands_a_task_to_the_loop*",
            "*task 'handed-over'*",
            "*started: *of test_inner.py::test_hands_a_task_to_the_loop*",
        ]
    )


# -- 3. Library infrastructure -------------------------------------------------------------


@needs_uvloop
def test_uvloop_native_workers_are_infrastructure_and_its_tasks_have_origins(run_leakcheck):
    result = run_leakcheck(
        """
        import asyncio

        import uvloop

        KEEP = []

        async def wait_forever():
            await asyncio.Event().wait()

        def test_resolves_a_name_on_uvloop():
            async def main():
                await asyncio.get_running_loop().getaddrinfo("localhost", 80)
            uvloop.run(main())

        def test_leaks_a_task_on_a_uvloop_loop():
            loop = uvloop.new_event_loop()
            KEEP.append(loop)
            KEEP.append(loop.create_task(wait_forever(), name="on-uvloop"))
        """
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_a_task_on_a_uvloop_loop*",
            "*task 'on-uvloop'*",
            "*started: during call of test_inner.py::test_leaks_a_task_on_a_uvloop_loop*",
        ]
    )
    assert "libuv-worker" not in result.stdout.str()


def test_anyio_process_pool_service_task_is_infrastructure(run_leakcheck):
    result = run_leakcheck(
        """
        import anyio
        import pytest

        pytestmark = pytest.mark.anyio

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param

        async def test_runs_a_worker_process():
            assert await anyio.to_process.run_sync(abs, -3) == 3
        """
    )
    result.assert_outcomes(passed=2)


def test_an_idle_trio_cache_worker_is_parked_even_under_a_wrapper_frame(run_leakcheck):
    """blockbuster wraps blocking calls: a Python frame sits above the idle worker's wait."""
    result = run_leakcheck(
        """
        import threading

        import trio
        import trio._core._thread_cache as cache

        class WrappedLock:
            \"\"\"A lock whose acquire() is a Python frame, as blockbuster's are.\"\"\"

            def __init__(self):
                self._lock = threading.Lock()

            def acquire(self, *args, **kwargs):
                return self._lock.acquire(*args, **kwargs)

            def release(self):
                self._lock.release()

        cache.Lock = WrappedLock

        def test_runs_blocking_calls_in_trio_threads():
            async def main():
                for numbers in ([1, 2], [3, 4]):
                    await trio.to_thread.run_sync(sum, numbers)
            trio.run(main)

        def test_innocent_after():
            pass
        """
    )
    result.assert_outcomes(passed=2)


# -- 4. A runner's own main task ------------------------------------------------------


def test_a_runner_main_task_interrupted_by_a_base_exception_is_not_a_straggler(run_leakcheck):
    result = run_leakcheck(
        """
        import asyncio

        import pytest

        async def stop_everything():
            raise SystemExit(3)

        async def main():
            loop = asyncio.get_running_loop()
            loop.create_task(asyncio.sleep(3600), name="sibling of the run")
            loop.create_task(stop_everything())
            await asyncio.sleep(3600)

        def test_system_exit_from_a_child_task():
            with pytest.raises(SystemExit):
                asyncio.run(main())
        """
        # (with hypothesis's plugin loaded, CPython 3.11 trips on its late import at the
        # summary: it miscounts its recursion depth after a SystemExit leaves a task so)
    )
    result.assert_outcomes(passed=1)


# -- 5. Nested sessions ----------------------------------------------------------------------


def test_an_inner_session_answers_for_its_tests_the_outer_test_for_what_survives(run_leakcheck):
    result = run_leakcheck(
        """
        import builtins

        pytest_plugins = ["pytester"]

        def test_inner_task_reaped_inside_the_inner_session(pytester):
            pytester.makepyfile(test_deep_reaped='''
                import asyncio

                def test_abandons_a_task():
                    async def main():
                        asyncio.get_running_loop().create_task(asyncio.sleep(3600))
                        await asyncio.sleep(0)
                    asyncio.run(main())
            ''')
            pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)

        def test_inner_thread_survives_the_inner_session(pytester):
            pytester.makepyfile(test_deep_thread='''
                import builtins
                import threading

                builtins.DEEP_RELEASE = RELEASE = threading.Event()

                def test_leaves_a_thread():
                    threading.Thread(target=RELEASE.wait, name="deep", daemon=True).start()
            ''')
            pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)

        def test_zz_release():
            builtins.DEEP_RELEASE.set()
        """,
        "-p",
        "pytester",
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_inner_thread_survives_the_inner_session*",
            "*thread 'deep'*",
        ]
    )


# -- 6. Nothing of the code under test is kept --------------------------------------------


def test_no_task_is_kept_alive_after_a_runner_reaped_a_loop(run_leakcheck):
    result = run_leakcheck(
        """
        import asyncio
        import gc
        import weakref

        KEEP = []

        def test_runner_reaps_a_task_and_keeps_its_loop_open():
            loop = asyncio.new_event_loop()
            KEEP.append(loop)
            async def main():
                asyncio.get_running_loop().create_task(asyncio.sleep(3600))
                await asyncio.sleep(0)
            loop.run_until_complete(main())
            asyncio.runners._cancel_all_tasks(loop)

        def test_a_finished_task_is_collected():
            refs = []
            async def main():
                task = asyncio.get_running_loop().create_task(asyncio.sleep(0))
                refs.append(weakref.ref(task))
                await task
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(main())
                gc.collect()
                assert refs[0]() is None
            finally:
                loop.close()
        """
    )
    result.assert_outcomes(passed=2, errors=1)


# -- 7. Two misses ---------------------------------------------------------------------------


def test_a_pending_task_destroyed_by_the_collector_is_reported_against_its_test(run_leakcheck):
    result = run_leakcheck(
        """
        import asyncio
        import gc

        async def wait_on(fut):
            await fut

        def test_drops_a_pending_task():
            async def main():
                loop = asyncio.get_running_loop()
                loop.create_task(wait_on(loop.create_future()), name="dropped")
                await asyncio.sleep(0)
                gc.collect()
            asyncio.run(main())

        def test_innocent():
            gc.collect()
        """
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_drops_a_pending_task*",
            "*destroyed task 'dropped' (garbage-collected while still pending)*",
            "*runs: *wait_on*",
            "*started: during call of test_inner.py::test_drops_a_pending_task*",
        ]
    )


def test_an_async_generator_never_closed_is_named_by_its_function(run_leakcheck):
    result = run_leakcheck(
        """
        import asyncio

        async def read_lines():
            try:
                while True:
                    yield "line"
            finally:
                await asyncio.sleep(0)

        def test_abandons_a_generator():
            async def main():
                lines = read_lines()
                await lines.__anext__()
                del lines
            asyncio.run(main())
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*async generator 'read_lines'*",
            "*never closed*",
            '*File "test_inner.py", line *, in read_lines*',
        ]
    )
    assert "async_generator_athrow" not in result.stdout.str()
