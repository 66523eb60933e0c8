"""Blame for higher-scoped fixtures, enabling, ignores, the marker, modes and bad input."""

from __future__ import annotations

import pytest

SERVER_FIXTURE = """
    import threading, pytest

    @pytest.fixture(scope="module")
    def server():
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait, name="server", daemon=True)
        thread.start()
        yield thread
        {teardown}

    def test_one(server):
        assert server.is_alive()

    def test_two(server):
        assert server.is_alive()
"""

LEAKY = """
    import threading

    def test_leaks():
        threading.Thread(target=threading.Event().wait, name="leaky-thread", daemon=True).start()
"""


def test_module_fixture_that_stops_its_server_passes(run_leakcheck):
    result = run_leakcheck(SERVER_FIXTURE.format(teardown="stop.set(); thread.join()"))
    result.assert_outcomes(passed=2)


def test_module_fixture_that_never_stops_its_server_is_blamed(run_leakcheck):
    result = run_leakcheck(SERVER_FIXTURE.format(teardown="pass"))
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_two*",
            "leakcheck: fixture 'server' (module scope) left 1 thread behind",
            "*started: during setup of fixture 'server' (module scope)",
        ]
    )
    assert "test_one - leakcheck" not in result.stdout.str()


def test_off_by_default(run_leakcheck):
    result = run_leakcheck(LEAKY, leakcheck=False)
    result.assert_outcomes(passed=1)
    assert "= leakcheck =" not in result.stdout.str()


def test_ini_turns_it_on_and_p_no_removes_it(run_leakcheck, pytester):
    pytester.makeini("[pytest]\nleakcheck = true\n")
    result = run_leakcheck(LEAKY, leakcheck=False)
    result.assert_outcomes(passed=1, errors=1)
    result = pytester.runpytest_subprocess("-p", "no:leakcheck", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_ini_ignore_patterns(run_leakcheck, pytester):
    pytester.makeini("[pytest]\nleakcheck_ignore =\n    name:leaky-*\n")
    result = run_leakcheck(LEAKY)
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "pattern",
    ["target:threading.Event.wait", "top:*Condition.wait", "any:Event.wait", "origin:test_leaks"],
)
def test_ignore_pattern_fields(run_leakcheck, pytester, pattern):
    pytester.makeini(f"[pytest]\nleakcheck_ignore = {pattern}\n")
    result = run_leakcheck(LEAKY)
    result.assert_outcomes(passed=1)


def test_ignore_pattern_that_does_not_match_still_reports(run_leakcheck, pytester):
    pytester.makeini("[pytest]\nleakcheck_ignore = name:other-*\n")
    result = run_leakcheck(LEAKY)
    result.assert_outcomes(passed=1, errors=1)


def test_marker_ignore_timeout_and_enabled(run_leakcheck):
    result = run_leakcheck(
        """
        import threading, pytest

        def leak(name):
            threading.Thread(target=threading.Event().wait, name=name, daemon=True).start()

        @pytest.mark.leakcheck(ignore=["name:ok-*"])
        def test_ignored():
            leak("ok-1")

        @pytest.mark.leakcheck(enabled=False)
        def test_disabled():
            leak("whatever")

        @pytest.mark.leakcheck(timeout=0)
        def test_no_grace():
            leak("reported")
        """,
        "--strict-markers",
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_no_grace*"])


def test_bad_marker_arguments_fail_that_test_clearly(run_leakcheck):
    result = run_leakcheck(
        """
        import pytest

        @pytest.mark.leakcheck(timeout="soon")
        def test_bad():
            pass

        def test_fine():
            pass
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.leakcheck(timeout=...) must be a finite number of seconds >= 0*"]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--leakcheck-timeout=soon"], "--leakcheck-timeout must be a finite number*'soon'"),
        (["--leakcheck-timeout=-1"], "--leakcheck-timeout must be a finite number*'-1'"),
        (["-o", "leakcheck_mode=loud"], "ini leakcheck_mode must be fail or warn*"),
        (["-o", "leakcheck_ignore=top:"], "ini leakcheck_ignore must be *nothing after 'top:'*"),
    ],
)
def test_bad_settings_stop_the_run_with_a_clear_message(run_leakcheck, args, message):
    result = run_leakcheck(LEAKY, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}"])
    assert "Traceback" not in result.stderr.str()


def test_warn_mode_emits_leak_warning(run_leakcheck):
    result = run_leakcheck(LEAKY, "--leakcheck-mode=warn")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*LeakWarning: leakcheck: this test left 1 thread behind*"])


def test_warn_mode_respects_w_error(run_leakcheck):
    result = run_leakcheck(
        LEAKY, "--leakcheck-mode=warn", "-W", "error::pytest_leakcheck.LeakWarning"
    )
    result.assert_outcomes(passed=1, errors=1)


def test_json_report(run_leakcheck, pytester):
    import json

    result = run_leakcheck(LEAKY, "--leakcheck-report=leaks.json")
    result.assert_outcomes(passed=1, errors=1)
    data = json.loads((pytester.path / "leaks.json").read_text())
    assert data["tests_checked"] == 1
    [leak] = data["leaks"]
    assert leak["test"] == "test_inner.py::test_leaks"
    assert leak["kind"] == "thread"
    assert leak["name"] == "leaky-thread"
    assert leak["started_phase"] == "call"
    assert any(f["function"] == "test_inner.test_leaks" for f in leak["started_at"])


def test_options_and_marker_show_in_help(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        ["*--leakcheck *fail each test that leaves*", "*leakcheck_timeout*"]
    )
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.leakcheck(ignore=(), timeout=None, enabled=True)*"])
