"""Threads a test leaves behind: reported with name, stack and start site."""

from __future__ import annotations

BLOCKED_THREAD = """
    import threading

    def park(event):
        event.wait()

    def test_leaks_a_thread():
        event = threading.Event()
        threading.Thread(target=park, args=(event,), name="parked-worker", daemon=True).start()
"""


def test_thread_blocked_on_event_fails_with_name_stack_and_start_site(run_leakcheck):
    result = run_leakcheck(BLOCKED_THREAD)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_a_thread*",
            "leakcheck: this test left 1 thread behind",
            "*thread 'parked-worker' (ident *, daemon)",
            "*runs: test_inner.park",
            "*started: during call of test_inner.py::test_leaks_a_thread",
            "*stack now (most recent call last):",
            '*File "test_inner.py", line 4, in park',
            "*event.wait()",
            "*started at (most recent call last):",
            '*File "test_inner.py", line 8, in test_leaks_a_thread',
        ]
    )


def test_short_summary_names_the_leak(run_leakcheck):
    result = run_leakcheck(BLOCKED_THREAD, "-rE")
    result.stdout.fnmatch_lines(
        ["ERROR test_inner.py::test_leaks_a_thread - *leakcheck: this test left*"]
    )


def test_a_failing_finalizer_keeps_its_error_and_the_leak_is_a_section(run_leakcheck):
    result = run_leakcheck(
        """
        import threading

        import pytest

        @pytest.fixture
        def broken():
            yield
            raise RuntimeError("finalizer broke")

        def test_leaks_and_breaks(broken):
            event = threading.Event()
            threading.Thread(target=event.wait, name="parked", daemon=True).start()
        """,
        "-rE",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_and_breaks*",
            "E       RuntimeError: finalizer broke",
            "*Captured leakcheck teardown*",
            "leakcheck: this test left 1 thread behind",
            "*thread 'parked'*",
            "ERROR test_inner.py::test_leaks_and_breaks - RuntimeError: finalizer broke",
        ]
    )


def test_thread_that_exits_shortly_after_the_test_passes(run_leakcheck):
    # The thread outlives the test body by ~50 ms: within the grace period.
    result = run_leakcheck(
        """
        import threading, time

        def test_stops_its_thread_late():
            go = threading.Event()
            threading.Thread(target=lambda: (go.wait(), time.sleep(0.05))).start()
            go.set()
        """,
        "--leakcheck-timeout=5",
    )
    result.assert_outcomes(passed=1)
    assert "leakcheck: " not in result.stdout.str().replace("leakcheck: this", "")


def test_clean_test_passes_and_summary_counts_it(run_leakcheck):
    result = run_leakcheck(
        """
        import threading

        def test_joins_its_thread():
            t = threading.Thread(target=lambda: None)
            t.start()
            t.join()
        """
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*= leakcheck =*", "1 test(s) checked; 0 left stragglers*"])


def test_non_daemon_thread_is_called_out_in_summary(run_leakcheck):
    result = run_leakcheck(
        """
        import threading

        stop = threading.Event()

        def test_leaks_non_daemon():
            threading.Thread(target=stop.wait, name="keeps-exit-waiting").start()

        def test_release():
            stop.set()
        """
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*1 of them NOT daemon: the interpreter will wait for them at exit*"]
    )


def test_non_daemon_thread_alive_at_session_end_is_warned_about(run_leakcheck, pytester):
    # Released only after the summary is printed, so the inner process can exit.
    pytester.makeconftest(
        """
        def pytest_unconfigure(config):
            import test_inner
            test_inner.stop.set()
        """
    )
    result = run_leakcheck(
        """
        import threading

        stop = threading.Event()

        def test_leaks_until_session_end():
            threading.Thread(target=stop.wait, name="forever").start()
        """
    )
    result.stdout.fnmatch_lines(
        [
            "still alive at session end: 1 thread",
            "*thread 'forever'*",
            "WARNING: 1 non-daemon thread(s) still running*",
        ]
    )


def test_blame_isolation_only_the_leaking_test_fails(run_leakcheck):
    result = run_leakcheck(
        """
        import threading

        release = threading.Event()

        def test_a_leaks():
            threading.Thread(target=release.wait, name="from-a", daemon=True).start()

        def test_b_is_innocent():
            pass

        def test_c_is_innocent_too():
            threading.Thread(target=lambda: None).start()
        """
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_a_leaks*"])
    assert "test_b_is_innocent - leakcheck" not in result.stdout.str()
    result.stdout.fnmatch_lines(["still alive at session end: 1 thread", "*'from-a'*"])


def test_threads_started_by_a_leaked_thread_stay_blamed_on_its_test(run_leakcheck):
    result = run_leakcheck(
        """
        import threading

        spawn = threading.Event()
        spawned = threading.Event()

        def spawner():
            spawn.wait()
            threading.Thread(target=threading.Event().wait, name="child", daemon=True).start()
            spawned.set()
            threading.Event().wait()

        def test_a_leaks_a_spawner():
            threading.Thread(target=spawner, name="spawner", daemon=True).start()

        def test_b_triggers_it():
            spawn.set()
            assert spawned.wait(30)
        """
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_a_leaks_a_spawner*"])


def test_thread_started_in_setup_says_so(run_leakcheck):
    result = run_leakcheck(
        """
        import threading, pytest

        @pytest.fixture
        def worker():
            threading.Thread(target=threading.Event().wait, name="fx", daemon=True).start()
            yield

        def test_uses_worker(worker):
            pass
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*started: during setup of test_inner.py::test_uses_worker"])


def test_idle_pool_workers_are_not_leaks_but_blocked_ones_are(run_leakcheck):
    result = run_leakcheck(
        """
        import queue
        import threading
        from concurrent.futures import ThreadPoolExecutor

        POOL = ThreadPoolExecutor(max_workers=2)  # lazily grown, module-level
        FULL = queue.Queue(maxsize=1)
        STARTED = threading.Event()

        def put_when_full():
            STARTED.set()
            FULL.put(1)

        def test_uses_pool_and_waits():
            assert POOL.submit(sum, [1, 2]).result() == 3

        def test_job_blocked_on_full_queue():
            FULL.put(0)
            POOL.submit(put_when_full)
            # On 3.13 a job handed to a parked worker is in neither the queue nor
            # the worker's locals until that worker runs: wait until it does.
            assert STARTED.wait(30)

        def test_unblock_so_the_process_can_exit():
            FULL.get()
        """
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_job_blocked_on_full_queue*", "*in Queue.put*"]
    )


def test_strict_pools_counts_idle_workers(run_leakcheck, pytester):
    pytester.makeini("[pytest]\nleakcheck_strict_pools = true\n")
    result = run_leakcheck(
        """
        from concurrent.futures import ThreadPoolExecutor

        POOL = ThreadPoolExecutor(max_workers=1)

        def test_grows_pool():
            POOL.submit(int).result()
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*thread 'ThreadPoolExecutor-*"])


def test_thread_from_start_new_thread_is_reported(run_leakcheck):
    result = run_leakcheck(
        """
        import _thread, threading

        def test_low_level_thread():
            started = threading.Event()
            def body():
                started.set()
                threading.Event().wait()
            _thread.start_new_thread(body, ())
            assert started.wait(30)
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*python thread '<no threading.Thread, ident *>'*", "*_thread.start_new_thread*"]
    )
    assert "native thread" not in result.stdout.str()


NATIVE_THREADS = """
    import ctypes, sys

    # A thread no Python API knows of: pthread_create running libc's sleep()
    # (its argument register holds the seconds), as a C extension's would.
    libc = ctypes.CDLL(None)
    libc.pthread_create.argtypes = [ctypes.c_void_p] * 4

    def start_native_thread():
        handle = ctypes.c_ulong()
        sleep = ctypes.cast(libc.sleep, ctypes.c_void_p)
        assert libc.pthread_create(ctypes.byref(handle), None, sleep, 3600) == 0

    start_native_thread()  # before any test: not a test's leak

    def test_clean():
        pass

    def test_starts_a_c_thread():
        start_native_thread()

    def test_clean_after():
        pass
"""


def test_c_thread_is_reported_and_only_against_the_test_that_started_it(run_leakcheck):
    result = run_leakcheck(NATIVE_THREADS)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_starts_a_c_thread*",
            "leakcheck: this test left 1 native thread behind",
            "*native thread*",
        ]
    )
    errors = [line for line in result.stdout.lines if line.startswith("ERROR ")]
    assert len(errors) == 1 and "test_starts_a_c_thread" in errors[0], errors


def test_timer_says_it_is_a_timer_what_it_will_call_and_when(run_leakcheck):
    result = run_leakcheck(
        """
        import threading

        def test_leaves_a_timer():
            timer = threading.Timer(30, print, args=("too late",))
            timer.daemon = True
            timer.start()
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*thread 'Thread-*' (threading.Timer, 30 s interval, ident *, daemon)",
            "*runs: builtins.print",
            "*note: a threading.Timer: calls builtins.print('too late') 30 s after it was "
            "started, unless cancelled first (timer.cancel())",
        ]
    )
