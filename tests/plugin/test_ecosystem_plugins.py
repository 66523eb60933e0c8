"""Ecosystem: the plugins and options a real suite already runs with.

pytest-timeout (both methods), pytest-randomly, pytest-rerunfailures,
``--strict-markers``, ``-p no:cacheprovider`` (every inner run here uses it),
``-x``, ``--lf``, ``-k``, ``-W error``; and the conventions: ``--help`` and
``--markers`` list our settings, JUnit XML and ``--leakcheck-report`` carry
the findings. Every case checks both halves: the leak is still caught, and
nothing innocent is blamed.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

INNER_RUN_TIMEOUT = 120  # as in conftest.py: a hang fails the case, never the suite

LEAK_AND_INNOCENTS = """
    import threading

    import pytest

    stop = threading.Event()

    def test_leaks():
        threading.Thread(target=stop.wait, name="the-leak", daemon=True).start()

    def test_innocent_a():
        pass

    @pytest.mark.leakcheck(enabled=False)
    def test_marked_off_leaks_unchecked():
        threading.Thread(target=stop.wait, name="unchecked", daemon=True).start()

    def test_innocent_b():
        pass
"""


def _erroring(result: pytest.RunResult) -> list[str]:
    return re.findall(r"^ERROR (\S+)(?: - |$)", result.stdout.str(), re.M)


def test_strict_markers_and_warnings_as_errors_and_k(run_leakcheck):
    # our marker is registered (no PytestUnknownMarkWarning, no strict-markers
    # error), and the plugin itself emits no warning that -W error would trip on
    result = run_leakcheck(
        LEAK_AND_INNOCENTS,
        "--strict-markers",
        "-W",
        "error",
        "-k",
        "not innocent_b",
        # pytest-asyncio warns when this is unset, and -W error would make that fatal
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(passed=3, errors=1, deselected=1)
    assert _erroring(result) == ["test_inner.py::test_leaks"]


def test_x_stops_at_the_first_leak(run_leakcheck):
    result = run_leakcheck(LEAK_AND_INNOCENTS, "-x")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_last_failed_reruns_the_leaking_test_and_reports_it_again(pytester):
    pytester.makepyfile(test_inner=LEAK_AND_INNOCENTS.replace("\n    ", "\n"))
    first = pytester.runpytest_subprocess("--leakcheck", "-p", "no:randomly")
    first.assert_outcomes(passed=4, errors=1)
    again = pytester.runpytest_subprocess(
        "--leakcheck", "-p", "no:randomly", "--lf", timeout=INNER_RUN_TIMEOUT
    )
    again.assert_outcomes(passed=1, errors=1)
    again.stdout.fnmatch_lines(["run-last-failure: rerun previous 1 failure*"])
    assert _erroring(again) == ["test_inner.py::test_leaks"]


def test_pytest_timeout_signal_method_a_timed_out_test_still_has_its_leak_reported(
    run_leakcheck,
):
    result = run_leakcheck(
        """
        import threading, time

        stop = threading.Event()

        def test_leaks_then_hangs():
            threading.Thread(target=stop.wait, name="before-the-hang", daemon=True).start()
            time.sleep(600)

        def test_innocent():
            pass
        """,
        "--timeout=2",
        "--timeout-method=signal",
    )
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*Failed: Timeout*"])
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_then_hangs*",
            "*thread 'before-the-hang'*",
        ]
    )
    assert "test_innocent - " not in result.stdout.str()


BLAME_UNDER_SHUFFLE = """
    import threading

    import pytest

    stop = threading.Event()

    @pytest.fixture(scope="module")
    def server():
        t = threading.Thread(target=stop.wait, name="module-server", daemon=True)
        t.start()
        yield
        # never stopped: the fixture's leak, whichever test happens to be last

    def test_leaks(server):
        threading.Thread(target=stop.wait, name="the-leak", daemon=True).start()

    def test_innocent_1(server):
        pass

    def test_innocent_2(server):
        pass

    def test_innocent_3():
        pass
"""


def test_random_order_does_not_move_blame(run_leakcheck):
    orders = set()
    for seed in ("1", "2"):  # two seeds that give different orders (asserted below)
        result = run_leakcheck(
            BLAME_UNDER_SHUFFLE, "-p", "randomly", f"--randomly-seed={seed}", "-v"
        )
        out = result.stdout.str()
        orders.add(tuple(re.findall(r"^test_inner.py::(\w+) (?:PASSED|ERROR)", out, re.M)))
        leaky = [line.strip() for line in out.splitlines() if line.startswith("  test_inner")]
        assert leaky == ["test_inner.py::test_leaks: 1 thread(s)"], (seed, out)
        # one test blamed, whatever its position; the module fixture's thread is
        # charged to the fixture, once, at whichever teardown finalizes it
        assert re.findall(r"^leakcheck: this test left.*", out, re.M) == [
            "leakcheck: this test left 1 thread behind"
        ], (seed, out)
        assert out.count("leakcheck: fixture 'server' (module scope) left 1 thread behind") == 1
    assert len(orders) > 1, "the seeds should have produced different orders"


def test_rerunfailures_blames_each_attempt_and_a_flaky_leak_passes_on_rerun(run_leakcheck):
    result = run_leakcheck(
        """
        import threading

        stop = threading.Event()
        attempts = []

        def test_always_leaks():
            threading.Thread(target=stop.wait, name="every-attempt", daemon=True).start()

        def test_leaks_on_first_attempt_only():
            attempts.append(1)
            if len(attempts) == 1:
                threading.Thread(target=stop.wait, name="first-attempt", daemon=True).start()

        def test_innocent():
            pass
        """,
        "--reruns=1",
    )
    outcomes = result.parseoutcomes()
    # always-leaks: fails, is rerun once, fails again; flaky: fails once, passes on rerun
    assert outcomes.get("rerun") == 2, outcomes
    assert outcomes.get("error", outcomes.get("errors")) == 1, outcomes
    assert _erroring(result) == ["test_inner.py::test_always_leaks"]
    assert "test_innocent" not in result.stdout.str().split("short test summary")[-1]


def test_help_and_markers_list_every_setting(pytester):
    helptext = pytester.runpytest_subprocess("--help", timeout=INNER_RUN_TIMEOUT)
    helptext.stdout.fnmatch_lines(["*leak checking of threads and asyncio tasks*"])
    for option in ("--leakcheck ", "--leakcheck-timeout", "--leakcheck-mode", "--leakcheck-report"):
        helptext.stdout.fnmatch_lines([f"*{option}*"])
    for ini in (
        "leakcheck ",
        "leakcheck_timeout",
        "leakcheck_mode",
        "leakcheck_ignore",
        "leakcheck_strict_pools",
        "leakcheck_origins",
        "leakcheck_native",
    ):
        helptext.stdout.fnmatch_lines([f"  {ini}*"])
    markers = pytester.runpytest_subprocess("--markers", timeout=INNER_RUN_TIMEOUT)
    markers.stdout.fnmatch_lines(
        ["@pytest.mark.leakcheck(ignore=(), timeout=None, enabled=True):*"]
    )


def test_junit_xml_and_json_report_carry_the_leak_under_pytest_timeout_thread_method(
    run_leakcheck, pytester
):
    junit = pytester.path / "junit.xml"
    report = pytester.path / "leaks.json"
    result = run_leakcheck(
        LEAK_AND_INNOCENTS,
        f"--junitxml={junit}",
        f"--leakcheck-report={report}",
        # pytest-timeout's thread method arms a timer thread around each test: not a leak
        "--timeout=60",
        "--timeout-method=thread",
    )
    result.assert_outcomes(passed=4, errors=1)
    assert _erroring(result) == ["test_inner.py::test_leaks"]
    assert "timeout_timer" not in result.stdout.str()

    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    error = cases["test_leaks"].find("error")
    assert error is not None
    assert "leakcheck: this test left 1 thread behind" in (error.get("message") or "")
    assert "the-leak" in (error.text or "")
    assert all(
        case.find("error") is None and case.find("failure") is None
        for name, case in cases.items()
        if name != "test_leaks"
    )

    data = json.loads(report.read_text())
    assert data["tests_checked"] == 3  # the marked-off test is not checked
    (leak,) = data["leaks"]
    assert leak["test"] == "test_inner.py::test_leaks"
    assert leak["kind"] == "thread"
    assert leak["name"] == "the-leak"
    assert leak["started_phase"] == "call"
    assert any(frame["function"] == "test_inner.test_leaks" for frame in leak["started_at"])
    assert leak["stack"]
