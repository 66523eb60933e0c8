"""Nothing a test does may crash, hang or mislead the session (issue 7).

Every case is a real inner pytest run in a subprocess. Third-party plugin
autoloading is off in the inner runs (only pytest-leakcheck, and pytest-timeout
where a case needs it, are loaded): the cases are about what *our* plugin does,
and an inner run must not be reordered (pytest-randomly) or slowed down by
plugins it does not use.
"""

from __future__ import annotations

import re
import textwrap

import pytest

#: Same bound as conftest.INNER_RUN_TIMEOUT: a hang fails the case, never the suite.
INNER_RUN_TIMEOUT = 120


@pytest.fixture
def run_inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Write *source* (and an optional conftest) and run it with only our plugin."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    def run(
        source: str, *args: str, conftest: str | None = None, plugins: tuple[str, ...] = ()
    ) -> pytest.RunResult:
        pytester.makepyfile(test_inner=textwrap.dedent(source))
        if conftest is not None:
            pytester.makeconftest(textwrap.dedent(conftest))
        loads = [arg for plugin in ("pytest_leakcheck.plugin", *plugins) for arg in ("-p", plugin)]
        return pytester.runpytest_subprocess(
            *loads, "--leakcheck", "-p", "no:cacheprovider", *args, timeout=INNER_RUN_TIMEOUT
        )

    return run


def internal_warnings(output: str, nodeid: str) -> int:
    """How many of our internal-error warnings name *nodeid*."""
    return output.count(
        f"LeakcheckInternalWarning: pytest-leakcheck failed while checking {nodeid}:"
    )


def assert_nothing_of_ours_crashed(output: str) -> None:
    assert "INTERNALERROR" not in output
    assert "Traceback (most recent call last)" not in output
    # no frame of ours in any traceback pytest printed
    assert not re.search(r"pytest_leakcheck[/\\]\w+\.py:\d+: \w+Error", output), output


# -- internal errors ---------------------------------------------------------------

HOSTILE = """
    import asyncio, threading

    release = threading.Event()
    KEEP = []

    async def forever():
        await asyncio.Event().wait()

    class HostileTask(asyncio.Task):
        def get_name(self):
            raise RuntimeError("hostile get_name")
        def __repr__(self):
            raise RuntimeError("hostile repr")

    def hostile_factory(loop, coro, **kwargs):
        return HostileTask(coro, loop=loop, **kwargs)

    class HostileName(threading.Thread):
        @property
        def name(self):
            raise RuntimeError("hostile thread name")
        @name.setter
        def name(self, value):
            pass

    class HostileGlobals(dict):
        def get(self, *args):
            raise RuntimeError("hostile frame globals")

    class StrangeLoop(asyncio.SelectorEventLoop):
        strange = False
        def is_closed(self):
            if self.strange:
                raise RuntimeError("hostile is_closed")
            return super().is_closed()

    def test_task_reaped_by_asyncio_run_has_a_hostile_name():
        async def main():
            asyncio.get_running_loop().set_task_factory(hostile_factory)
            asyncio.create_task(forever())
            await asyncio.sleep(0)
        asyncio.run(main())  # our bookkeeping in the runner must not raise here

    def test_pending_task_with_hostile_name_and_repr():
        loop = asyncio.new_event_loop()
        loop.set_task_factory(hostile_factory)
        KEEP.append((loop, loop.create_task(forever())))
        loop.run_until_complete(asyncio.sleep(0))

    def test_thread_whose_name_property_raises():
        thread = HostileName(target=release.wait, daemon=True)
        thread.start()
        KEEP.append(thread)

    def test_thread_stuck_in_a_frame_that_cannot_be_read():
        scope = HostileGlobals(release=release, __builtins__=__builtins__)
        exec("def park():\\n    release.wait()\\n", scope)
        thread = threading.Thread(target=scope["park"], daemon=True)
        thread.start()
        KEEP.append(thread)

    def test_loop_in_a_strange_state():
        loop = StrangeLoop()
        KEEP.append((loop, loop.create_task(forever())))
        loop.run_until_complete(asyncio.sleep(0))
        loop.strange = True

    def test_fails_on_its_own_and_has_a_hostile_task():
        async def main():
            asyncio.get_running_loop().set_task_factory(hostile_factory)
            asyncio.create_task(forever())
            await asyncio.sleep(0)
        asyncio.run(main())
        assert 1 == 2, "the test's own failure"

    class ReprRaises(asyncio.Task):
        def __repr__(self):
            raise RuntimeError("hostile task repr")

    class FutureReprRaises(asyncio.Future):
        def __repr__(self):
            raise RuntimeError("hostile future repr")

    def test_task_whose_repr_raises_is_reported_like_any_other():
        loop = asyncio.new_event_loop()
        blocker = FutureReprRaises(loop=loop)
        async def stuck():
            await blocker
        task = ReprRaises(stuck(), loop=loop, name="repr-raises")
        loop.run_until_complete(asyncio.sleep(0))
        KEEP.append((loop, task))

    def test_a_later_leak_is_still_reported():
        threading.Thread(target=release.wait, daemon=True, name="later-leak").start()

    def test_zz_clean_up_so_the_summary_can_be_printed():
        release.set()
        for item in KEEP:
            if isinstance(item, threading.Thread):
                item.join()
            else:
                loop, task = item
                if isinstance(loop, StrangeLoop):
                    loop.strange = False
                task.cancel()
                loop.run_until_complete(asyncio.sleep(0))
                loop.close()
"""


def test_internal_errors_become_one_warning_naming_the_test_and_verdicts_stand(run_inner):
    result = run_inner(HOSTILE, "-p", "no:randomly", "-W", "always")
    out = result.stdout.str()
    assert_nothing_of_ours_crashed(out)
    # every test ran; each kept its own verdict (one own failure, one real leak)
    result.assert_outcomes(passed=8, failed=1, errors=2)
    result.stdout.fnmatch_lines(
        ["*_ test_fails_on_its_own_and_has_a_hostile_task _*", "E * the test's own failure"]
    )
    for name in (
        "test_task_reaped_by_asyncio_run_has_a_hostile_name",
        "test_pending_task_with_hostile_name_and_repr",
        "test_thread_whose_name_property_raises",
        "test_thread_stuck_in_a_frame_that_cannot_be_read",
        "test_loop_in_a_strange_state",
        "test_fails_on_its_own_and_has_a_hostile_task",
    ):
        assert internal_warnings(out, f"test_inner.py::{name}") == 1, name
    assert "hostile get_name" in out and "hostile is_closed" in out
    # a task whose repr raises is an ordinary leak: reported, no warning
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_task_whose_repr_raises_is_reported_like_any_other*",
            "leakcheck: this test left 1 task behind",
            "*task 'repr-raises'*",
            "*waiting on: <FutureReprRaises object; repr() raised RuntimeError>",
        ]
    )
    assert internal_warnings(out, "test_inner.py::test_task_whose_repr_raises") == 0
    # the later leak is reported on its own test, the clean-up test is clean
    assert out.count("ERROR at teardown of test_a_later_leak_is_still_reported") == 1
    assert internal_warnings(out, "test_inner.py::test_a_later_leak_is_still_reported") == 0
    assert internal_warnings(out, "test_inner.py::test_zz_clean_up") == 0
    # and the session ends with its summary
    result.stdout.fnmatch_lines(["*= leakcheck =*", "9 test(s) checked; 2 left stragglers*"])


# -- fork ----------------------------------------------------------------------------


def test_forked_child_that_runs_on_checks_nothing_and_prints_no_report(run_inner, pytester):
    result = run_inner(
        """
        import os, sys, threading

        PARENT = os.getpid()
        CHILD = []
        stop = threading.Event()

        def test_forks_and_the_child_runs_on():
            pid = os.fork()
            if pid == 0:
                sys.stdout.flush(); sys.stderr.flush()
                out = os.open("child.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(out, 1); os.dup2(out, 2)
                # the child carries on with the rest of the session, and leaks
                threading.Thread(target=stop.wait, daemon=True, name="child-leak").start()
                return
            CHILD.append(pid)

        def test_later():
            pass

        def test_zz_reap_the_child():
            if os.getpid() == PARENT:
                _, status = os.waitpid(CHILD[0], 0)
                assert os.waitstatus_to_exitcode(status) == 0
        """,
        "-s",
    )
    out = result.stdout.str()
    assert_nothing_of_ours_crashed(out)
    result.assert_outcomes(passed=3)
    assert out.count("= leakcheck =") == 1
    result.stdout.fnmatch_lines(["3 test(s) checked; 0 left stragglers (leaked: none)"])
    assert "child-leak" not in out
    child = (pytester.path / "child.out").read_text()
    assert "3 passed" in child  # the child really ran the session to its end ...
    assert "leakcheck" not in child and "child-leak" not in child  # ... without us
    assert "Traceback" not in child


# -- monkeypatched threading and event-loop policy -------------------------------------


def test_monkeypatched_threading_and_event_loop_policy(run_inner):
    result = run_inner(
        """
        import asyncio, threading
        import pytest

        release = threading.Event()
        KEEP = []

        async def wait_for_ever(event):
            await event.wait()

        class MyThread(threading.Thread):
            pass

        def test_thread_class_replaced(monkeypatch):
            monkeypatch.setattr(threading, "Thread", MyThread)
            threading.Thread(target=release.wait, daemon=True, name="via-subclass").start()

        def test_thread_start_wrapped(monkeypatch):
            original = threading.Thread.start
            def start(self):
                self.wrapped = True
                original(self)
            monkeypatch.setattr(threading.Thread, "start", start)
            threading.Thread(target=release.wait, daemon=True, name="via-wrapped-start").start()

        def test_enumerate_lies_during_the_test(monkeypatch):
            monkeypatch.setattr(threading, "enumerate", lambda: [threading.main_thread()])
            monkeypatch.setattr(threading, "active_count", lambda: 1)
            threading.Thread(target=release.wait, daemon=True, name="hidden-while-patched").start()

        def test_clean_after_the_patches():
            assert threading.Thread.__name__ == "Thread"

        class MyLoop(asyncio.SelectorEventLoop):
            pass

        class MyPolicy(asyncio.DefaultEventLoopPolicy):
            def new_event_loop(self):
                return MyLoop()

        def test_policy_replaced_and_left_in_place():
            asyncio.set_event_loop_policy(MyPolicy())
            loop = asyncio.new_event_loop()
            assert isinstance(loop, MyLoop)
            event = asyncio.Event()
            task = loop.create_task(wait_for_ever(event), name="custom-loop-task")
            KEEP.append((loop, event, task))
            loop.run_until_complete(asyncio.sleep(0))

        def test_policy_restored_by_monkeypatch(monkeypatch):
            monkeypatch.setattr(asyncio, "get_event_loop_policy", lambda: MyPolicy())
            asyncio.set_event_loop_policy(None)

        def test_zz_release():
            release.set()
        """,
        "-p",
        "no:randomly",
    )
    out = result.stdout.str()
    assert_nothing_of_ours_crashed(out)
    result.assert_outcomes(passed=7, errors=4)
    for test, straggler in (
        ("test_thread_class_replaced", "thread 'via-subclass'"),
        ("test_thread_start_wrapped", "thread 'via-wrapped-start'"),
        ("test_enumerate_lies_during_the_test", "thread 'hidden-while-patched'"),
        ("test_policy_replaced_and_left_in_place", "task 'custom-loop-task'"),
    ):
        assert out.count(f"ERROR at teardown of {test} ") == 1, test
        assert straggler in out
        result.stdout.fnmatch_lines([f"*started: during call of test_inner.py::{test}"])
    assert "LeakcheckInternalWarning" not in out


# -- loops closed, replaced, stopped or run for ever in another thread ------------------


def test_running_loop_closed_replaced_stopped_or_run_in_another_thread(run_inner):
    result = run_inner(
        """
        import asyncio, threading

        KEEP = []

        async def wait_for_ever(event):
            await event.wait()

        def test_replaces_the_running_loop():
            async def main():
                other = asyncio.new_event_loop()
                asyncio.set_event_loop(other)
                gate = asyncio.Event()
                KEEP.append((other, gate, other.create_task(wait_for_ever(gate), name="on-new")))
                KEEP.append(asyncio.create_task(wait_for_ever(asyncio.Event()), name="on-running"))
                await asyncio.sleep(0)
            asyncio.run(main())

        def test_stops_the_running_loop():
            async def main():
                KEEP.append(asyncio.create_task(wait_for_ever(asyncio.Event()), name="under-stop"))
                await asyncio.sleep(0)
                asyncio.get_running_loop().stop()
                await asyncio.Event().wait()
            try:
                asyncio.run(main())
            except RuntimeError as exc:
                assert "stopped" in str(exc)

        def test_closes_its_loop_from_inside_then_outside():
            loop = asyncio.new_event_loop()
            async def main():
                task = asyncio.create_task(wait_for_ever(asyncio.Event()), name="closed-under")
                KEEP.append(task)
                await asyncio.sleep(0)
                try:
                    loop.close()
                except RuntimeError:
                    pass
            loop.run_until_complete(main())
            loop.close()

        def test_runs_a_loop_for_ever_in_another_thread():
            loop = asyncio.new_event_loop()
            gate = asyncio.Event()
            started = threading.Event()
            def spawn():
                for i in range(3):
                    KEEP.append(loop.create_task(wait_for_ever(gate), name=f"forever-{i}"))
                started.set()
            threading.Thread(target=loop.run_forever, daemon=True, name="loop-thread").start()
            loop.call_soon_threadsafe(spawn)
            assert started.wait(60)
            KEEP.append((loop, gate))

        def test_zz_clean():
            pass
        """,
        "-p",
        "no:randomly",
    )
    out = result.stdout.str()
    assert_nothing_of_ours_crashed(out)
    result.assert_outcomes(passed=5, errors=4)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_replaces_the_running_loop*",
            "leakcheck: this test left 1 reaped task and 1 task behind",
            "*ERROR at teardown of test_stops_the_running_loop*",
            "leakcheck: this test left 2 reaped tasks behind",
            "*ERROR at teardown of test_closes_its_loop_from_inside_then_outside*",
            "leakcheck: this test left 1 reaped task behind",
            "*note: still pending when its loop shut down: abandoned when its event loop was clo*",
            "*ERROR at teardown of test_runs_a_loop_for_ever_in_another_thread*",
            "leakcheck: this test left 3 tasks and 1 thread behind",
        ]
    )
    for name in ("on-new", "on-running", "under-stop", "closed-under", "loop-thread"):
        assert f"'{name}'" in out
    assert "ERROR at teardown of test_zz_clean" not in out
    assert "LeakcheckInternalWarning" not in out


# -- thousands of stragglers -----------------------------------------------------------


def test_ten_thousand_tasks_and_many_threads_give_short_reports(run_inner):
    result = run_inner(
        """
        import asyncio, threading

        N = 10_000
        KEEP = []
        release = threading.Event()

        async def wait_for_ever(event):
            await event.wait()

        def test_ten_thousand_tasks_on_a_stopped_loop():
            loop = asyncio.new_event_loop()
            gate = asyncio.Event()
            KEEP.append((loop, gate, [loop.create_task(wait_for_ever(gate)) for _ in range(N)]))
            loop.run_until_complete(asyncio.sleep(0))

        def test_two_thousand_tasks_reaped_by_asyncio_run():
            async def main():
                gate = asyncio.Event()
                for _ in range(2_000):
                    asyncio.create_task(wait_for_ever(gate))
                await asyncio.sleep(0)
            asyncio.run(main())

        def test_two_hundred_threads():
            for i in range(200):
                threading.Thread(target=release.wait, daemon=True, name=f"w{i}").start()

        def test_clean_after_all_that():
            pass

        def test_zz_release():
            release.set()
            loop, _, tasks = KEEP.pop()
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
        """,
        "-p",
        "no:randomly",
    )
    out = result.stdout.str()
    assert_nothing_of_ours_crashed(out)
    result.assert_outcomes(passed=5, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_ten_thousand_tasks_on_a_stopped_loop*",
            "leakcheck: this test left 10000 tasks behind",
            "*+ 9999 more like it: *and 9989 more",
            "*ERROR at teardown of test_two_thousand_tasks_reaped_by_asyncio_run*",
            "leakcheck: this test left 2000 reaped tasks behind",
            "*+ 1999 more like it: *",
            "*ERROR at teardown of test_two_hundred_threads*",
            "leakcheck: this test left 200 threads behind",
            "*+ 199 more like it: *",
        ]
    )
    # short: each report is a few dozen lines, the whole output a few hundred
    sections = re.findall(r"ERROR at teardown of .*?\n(?=_{3,}|={3,})", out, re.S)
    assert len(sections) == 3
    for section in sections:
        assert len(section.splitlines()) < 60, section
    assert len(out.splitlines()) < 400
    assert len(out) < 60_000
    assert "ERROR at teardown of test_clean_after_all_that" not in out


# -- a non-daemon thread that never exits ----------------------------------------------


def test_non_daemon_thread_that_never_exits_is_reported_once_and_session_ends(run_inner):
    result = run_inner(
        """
        import threading

        def test_before():
            pass

        def test_starts_a_thread_that_never_exits():
            import conftest
            threading.Thread(target=conftest.RELEASE.wait, name="never-exits").start()

        def test_after():
            pass
        """,
        "-p",
        "no:randomly",
        conftest="""
        import threading

        RELEASE = threading.Event()

        def pytest_unconfigure(config):
            # only so this inner process can exit: nothing in the session stops it
            RELEASE.set()
        """,
    )
    out = result.stdout.str()
    assert_nothing_of_ours_crashed(out)
    result.assert_outcomes(passed=3, errors=1)
    assert out.count("ERROR at teardown of") == 1
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_starts_a_thread_that_never_exits*",
            "leakcheck: this test left 1 thread behind",
            "  1 of them NOT daemon: the interpreter will wait for them at exit",
            "*thread 'never-exits' (ident *, NOT daemon)",
            "*= leakcheck =*",
            "3 test(s) checked; 1 left stragglers (leaked: 1 thread(s))",
            "  test_inner.py::test_starts_a_thread_that_never_exits: 1 thread(s)",
            "still alive at session end: 1 thread",
            "*thread 'never-exits'*",
            "WARNING: 1 non-daemon thread(s) still running: the interpreter will wait*",
        ]
    )


# -- KeyboardInterrupt and -x ----------------------------------------------------------


def test_keyboard_interrupt_raised_by_a_test(run_inner):
    result = run_inner(
        """
        import threading

        release = threading.Event()

        def test_leaks_first():
            threading.Thread(target=release.wait, daemon=True, name="before-ctrl-c").start()

        def test_presses_ctrl_c():
            threading.Thread(target=release.wait, daemon=True, name="at-ctrl-c").start()
            raise KeyboardInterrupt

        def test_never_runs():
            pass
        """,
        "-p",
        "no:randomly",
    )
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert_nothing_of_ours_crashed(out)
    assert "pytest_leakcheck" not in out
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_first*",
            "*= leakcheck =*",
            "1 test(s) checked; 1 left stragglers*",
            "still alive at session end: 2 threads",
            "*!! KeyboardInterrupt !!*",
        ]
    )
    assert "test_never_runs" not in out


def test_keyboard_interrupt_during_the_grace_period_ends_the_session_promptly(run_inner):
    # Ctrl-C arrives while the check waits for a straggler: the session must end
    # now, not sit through a (here enormous) grace period again for its summary.
    # A hang would run into the inner run's timeout and fail this test.
    result = run_inner(
        """
        import os, signal, sys, threading, time

        # A process started in the background by a shell without job control
        # inherits SIGINT ignored, and Python then keeps it ignored: this run
        # must see the Ctrl-C however its parent was started.
        signal.signal(signal.SIGINT, signal.default_int_handler)

        def interrupt_once_the_check_waits():
            main = threading.main_thread().ident
            while True:
                frame = sys._current_frames().get(main)
                while frame is not None:
                    if frame.f_code.co_name == "find_leaks":
                        os.kill(os.getpid(), signal.SIGINT)
                        return
                    frame = frame.f_back
                time.sleep(0.001)

        def test_leaks_a_thread_and_is_interrupted_during_its_check():
            threading.Thread(target=interrupt_once_the_check_waits, daemon=True).start()
            threading.Thread(target=threading.Event().wait, daemon=True, name="stuck").start()

        def test_never_runs():
            pass
        """,
        "-p",
        "no:randomly",
        f"--leakcheck-timeout={INNER_RUN_TIMEOUT + 60}",
    )
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert_nothing_of_ours_crashed(out)
    result.stdout.fnmatch_lines(
        ["*= leakcheck =*", "still alive at session end: *", "*!! KeyboardInterrupt !!*"]
    )
    assert "test_never_runs" not in out


def test_exitfirst_mid_session(run_inner):
    result = run_inner(
        """
        import threading

        release = threading.Event()

        def test_clean():
            pass

        def test_fails_and_leaks():
            threading.Thread(target=release.wait, daemon=True, name="leaked-at-x").start()
            assert False, "stop here"

        def test_never_runs():
            pass
        """,
        "-p",
        "no:randomly",
        "-x",
    )
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert_nothing_of_ours_crashed(out)
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_fails_and_leaks*",
            "*thread 'leaked-at-x'*",
            "*= leakcheck =*",
            "2 test(s) checked; 1 left stragglers*",
            "*stopping after * failures*",
        ]
    )
    assert out.count("ERROR at teardown of") == 1
    assert "test_never_runs" not in out


# -- pytest-timeout --------------------------------------------------------------------

TIMEOUT_NEIGHBOURS = """
    import threading, time
    import pytest

    release = threading.Event()

    @pytest.mark.timeout(60, method="thread")
    def test_clean_before():
        pass

    @pytest.mark.timeout(60, method="thread", func_only=True)
    def test_leaks_under_an_armed_thread_timer():
        threading.Thread(target=release.wait, daemon=True, name="under-timer").start()

    @pytest.mark.timeout(1, method="signal")
    def test_leaks_and_times_out_by_signal():
        threading.Thread(target=release.wait, daemon=True, name="timed-out-leak").start()
        release.wait()

    @pytest.mark.timeout(60, method="thread")
    def test_clean_after():
        pass
"""


def test_pytest_timeout_timed_out_test_is_reported_once_not_its_neighbours(run_inner):
    result = run_inner(TIMEOUT_NEIGHBOURS, "-p", "no:randomly", plugins=("pytest_timeout",))
    out = result.stdout.str()
    assert_nothing_of_ours_crashed(out)
    # the timed-out test fails (its call) and is reported for its leak (its
    # teardown); the test under an armed thread timer is reported for its own
    # leak; the timers themselves and the neighbours are not
    result.assert_outcomes(passed=3, failed=1, errors=2)
    assert out.count("ERROR at teardown of test_leaks_and_times_out_by_signal") == 1
    assert out.count("ERROR at teardown of test_leaks_under_an_armed_thread_timer") == 1
    assert out.count("ERROR at teardown of") == 2
    assert out.count("[1] thread 'timed-out-leak'") == 1
    assert out.count("[1] thread 'under-timer'") == 1
    assert "pytest_timeout.timeout_timer" not in out


def test_pytest_timeout_thread_method_firing_on_a_leaking_test(run_inner):
    # The thread method dumps every stack and ends the process with os._exit(1):
    # no check of ours runs after it, and the tests before it stay clean.
    result = run_inner(
        """
        import threading
        import pytest

        release = threading.Event()

        def test_clean_before():
            pass

        @pytest.mark.timeout(2, method="thread")
        def test_leaks_and_hangs():
            threading.Thread(target=release.wait, daemon=True, name="leaked-then-hung").start()
            release.wait()

        def test_never_runs():
            pass
        """,
        "-p",
        "no:randomly",
        "-v",
        plugins=("pytest_timeout",),
    )
    out = result.stdout.str()
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*test_clean_before PASSED*", "*test_leaks_and_hangs*", "*+ Timeout +*"]
    )
    assert out.count("+ Timeout +") == 2  # one report: pytest-timeout's banner pair
    assert "Stack of leaked-then-hung" in out
    assert "ERROR at teardown" not in out and "leakcheck: " not in out
    assert "test_never_runs" not in out
    assert "INTERNALERROR" not in out
