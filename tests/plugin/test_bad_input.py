"""Every bad option, ini key and marker argument gets one clear error up front (issue 21).

The shape is always "<setting> must be <what is allowed>, got <value>": a
usage error (exit code 4) for options and ini keys, a setup error of the test
for its marker, and never a check that silently does less.
"""

from __future__ import annotations

import pytest

from pytest_leakcheck import IgnoreRule, Options, parse_ignore

LEAKY = """
    import threading

    def test_leaks():
        threading.Thread(target=threading.Event().wait, name="leaky-thread", daemon=True).start()
"""

PATTERN = "a glob, optionally after one of the prefixes name:, target:, top:, any:, origin:"
BOOL = "true or false (or yes/no, on/off, 1/0)"


def assert_usage_error(result: pytest.RunResult, *lines: str) -> None:
    """Exit code 4, the message on stderr, no test run and no traceback of ours."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(list(lines))
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert "passed" not in result.stdout.str()


# -- ignore patterns ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("nmae:leaky", "unknown prefix 'nmae:'; did you mean 'name:'? *'name:nmae:leaky'"),
        ("Name:leaky", "unknown prefix 'Name:'; did you mean 'name:'? *"),
        ("re:lea.*", "unknown prefix 're:'; a glob that itself starts with 're:' needs a prefix*"),
    ],
)
def test_mistyped_ignore_prefix_is_a_usage_error(run_leakcheck, pytester, pattern, why):
    pytester.makeini(f"[pytest]\nleakcheck_ignore = {pattern}\n")
    result = run_leakcheck(LEAKY)
    assert_usage_error(
        result, f"ERROR: ini leakcheck_ignore must be {PATTERN}, got {pattern!r} ({why})"
    )


@pytest.mark.parametrize("pattern", ["name:worker:1", "*er:1", "worker?1"])
def test_a_name_with_a_colon_is_matched_with_an_explicit_prefix(run_leakcheck, pytester, pattern):
    pytester.makeini(f"[pytest]\nleakcheck_ignore = {pattern}\n")
    result = run_leakcheck(LEAKY.replace("leaky-thread", "worker:1"))
    result.assert_outcomes(passed=1)


def test_prefix_rule_in_the_library():
    """A word of letters and a colon is a prefix; anything else before a colon is glob."""
    assert parse_ignore("name:worker:1") == IgnoreRule("worker:1", "name")
    assert parse_ignore("pkg.mod:serve") == IgnoreRule("pkg.mod:serve")
    assert parse_ignore("worker-1:2") == IgnoreRule("worker-1:2")
    assert parse_ignore("*:1") == IgnoreRule("*:1")
    with pytest.raises(ValueError, match=r"unknown prefix 'worker:'.*'name:worker:1'"):
        parse_ignore("worker:1")
    with pytest.raises(TypeError, match=r"must be a glob.*got 1$"):
        parse_ignore(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"got 1$"):
        Options().with_ignores([1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"finite number of seconds >= 0, got inf"):
        Options(timeout=float("inf"))


# -- the marker -------------------------------------------------------------------


def test_bad_marker_arguments_fail_setup_and_never_hide_a_leak(run_leakcheck):
    result = run_leakcheck(
        """
        import threading, pytest

        @pytest.fixture
        def leaky():
            event = threading.Event()
            threading.Thread(target=event.wait, name="from-fixture", daemon=True).start()

        @pytest.mark.leakcheck(ignore=[1, 2])
        def test_ignore_ints(leaky):
            pass

        @pytest.mark.leakcheck(ignore=None)
        def test_ignore_none():
            pass

        @pytest.mark.leakcheck(ignore=["name:ok", "nmae:x"])
        def test_ignore_bad_prefix():
            pass

        @pytest.mark.leakcheck(timeout=float("inf"))
        def test_timeout_inf():
            pass

        @pytest.mark.leakcheck(timeout=True)
        def test_timeout_bool():
            pass

        @pytest.mark.leakcheck(enabled="no")
        def test_enabled_str():
            pass

        @pytest.mark.leakcheck(["x"])
        def test_positional():
            pass

        @pytest.mark.leakcheck(ignroe=["x"])
        def test_unknown_argument():
            pass

        def test_fine():
            pass
        """,
        "-W",
        "error::pytest_leakcheck.LeakcheckInternalWarning",
    )
    result.assert_outcomes(passed=1, errors=9)
    marker = "@pytest.mark.leakcheck"
    keywords = "keyword arguments ignore=, timeout=, enabled="
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_ignore_ints*",
            f"{marker}(ignore=...) item 0 must be {PATTERN}, got 1",
            # the check ran anyway, with the session's options
            "*ERROR at teardown of test_ignore_ints*",
            "leakcheck: this test left 1 thread behind",
            "*thread 'from-fixture'*",
            "*ERROR at setup of test_ignore_none*",
            f"{marker}(ignore=...) must be {PATTERN}, or a list of them, got None",
            "*ERROR at setup of test_ignore_bad_prefix*",
            f"{marker}(ignore=...) item 1 must be {PATTERN}, got 'nmae:x' (unknown prefix*",
            "*ERROR at setup of test_timeout_inf*",
            f"{marker}(timeout=...) must be a finite number of seconds >= 0, got inf",
            "*ERROR at setup of test_timeout_bool*",
            f"{marker}(timeout=...) must be a finite number of seconds >= 0, got True",
            "*ERROR at setup of test_enabled_str*",
            f"{marker}(enabled=...) must be True or False, got 'no'",
            "*ERROR at setup of test_positional*",
            f"{marker}(...) arguments must be {keywords}, got (['x'],)",
            "*ERROR at setup of test_unknown_argument*",
            f"{marker}(...) arguments must be {keywords}, got ['ignroe']",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "LeakcheckInternalWarning" not in result.stdout.str()


def test_bad_marker_with_the_leakcheck_fixture_is_one_error(run_leakcheck):
    result = run_leakcheck(
        """
        import pytest

        @pytest.mark.leakcheck(timeout="soon")
        def test_bad(leakcheck):
            pass
        """
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["@pytest.mark.leakcheck(timeout=...) must be a finite number of seconds >= 0, got 'soon'"]
    )
    assert "Traceback" not in result.stdout.str()


# -- ini keys and options ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "how"),
    [
        ("leakcheck", "ini"),
        ("leakcheck_strict_pools", "ini"),
        ("leakcheck_origins", "-o"),
        ("leakcheck_native", "-o"),
    ],
)
def test_bad_ini_bool_names_the_key_and_the_value(run_leakcheck, pytester, key, how):
    if how == "ini":
        pytester.makeini(f"[pytest]\n{key} = maybe\n")
        result = run_leakcheck(LEAKY)
    else:
        result = run_leakcheck(LEAKY, "-o", f"{key}=maybe")
    assert_usage_error(result, f"ERROR: ini {key} must be {BOOL}, got 'maybe'")


@pytest.mark.skipif(
    int(pytest.__version__.split(".")[0]) < 9, reason="[tool.pytest] (native TOML) is pytest 9"
)
@pytest.mark.parametrize(("value", "shown"), [("2", "2"), ('"maybe"', "'maybe'")])
def test_bad_native_toml_bool_names_the_key_and_the_value(run_leakcheck, pytester, value, shown):
    pytester.makepyprojecttoml(f"[tool.pytest]\nleakcheck_native = {value}\n")
    result = run_leakcheck(LEAKY)
    assert_usage_error(result, f"ERROR: ini leakcheck_native must be {BOOL}, got {shown}")


def test_settings_are_checked_even_when_checking_is_off(run_leakcheck, pytester):
    pytester.makeini("[pytest]\nleakcheck_strict_pools = maybe\n")
    result = run_leakcheck(LEAKY, leakcheck=False)
    assert_usage_error(result, f"ERROR: ini leakcheck_strict_pools must be {BOOL}, got 'maybe'")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "leakcheck_timeout=soon", "--leakcheck-timeout=1"], "ini leakcheck_timeout*"),
        (["-o", "leakcheck_mode=loud", "--leakcheck-mode=warn"], "ini leakcheck_mode*"),
        (["-o", "leakcheck=maybe"], "ini leakcheck must be*"),  # --leakcheck is given too
    ],
)
def test_a_bad_ini_value_is_an_error_even_when_the_command_line_overrides_it(
    run_leakcheck, args, message
):
    result = run_leakcheck(LEAKY, *args)
    assert_usage_error(result, f"ERROR: {message}")


@pytest.mark.parametrize(
    "args",
    [["--leakcheck-mode=WARN"], ["--leakcheck-mode", "Warn"], ["-o", "leakcheck_mode= WARN"]],
)
def test_mode_is_case_insensitive(run_leakcheck, args):
    result = run_leakcheck(LEAKY, *args)
    result.assert_outcomes(passed=1, warnings=1)


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--leakcheck-mode=loud"], "--leakcheck-mode"),
        (["-o", "leakcheck_mode=loud"], "ini leakcheck_mode"),
    ],
)
def test_bad_mode_lists_the_choices(run_leakcheck, args, where):
    result = run_leakcheck(LEAKY, *args)
    assert_usage_error(result, f"ERROR: {where} must be fail or warn (in any case), got 'loud'")


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_bad_timeout_is_a_usage_error(run_leakcheck, value):
    result = run_leakcheck(LEAKY, f"--leakcheck-timeout={value}")
    assert_usage_error(
        result, f"ERROR: --leakcheck-timeout must be a finite number of seconds >= 0, got '{value}'"
    )


# -- the report file -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("/nonexistent/x.json", "no directory /nonexistent"),
        (".", "it is a directory"),
        ("", "it is empty"),
    ],
)
def test_unusable_report_path_is_a_usage_error_at_start(run_leakcheck, value, why):
    result = run_leakcheck(LEAKY, f"--leakcheck-report={value}")
    assert_usage_error(
        result,
        "ERROR: --leakcheck-report must be a JSON file path in an existing, writable "
        f"directory, got {value!r} ({why})",
    )


def test_report_that_cannot_be_written_at_the_end_fails_the_run(run_leakcheck, pytester):
    pytester.mkdir("out")
    result = run_leakcheck(
        """
        import shutil

        def test_removes_the_report_directory():
            shutil.rmtree("out")
        """,
        "--leakcheck-report=out/leaks.json",
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["could not write the leak report to */out/leaks.json: *"])
    assert "Traceback" not in result.stdout.str()


# -- turning it off for one run ------------------------------------------------------------


def test_o_leakcheck_false_turns_it_off_cleanly_and_p_no_warns(run_leakcheck, pytester):
    pytester.makeini("[pytest]\nleakcheck = true\n")
    result = run_leakcheck(LEAKY, "-o", "leakcheck=false", "--strict-config", leakcheck=False)
    result.assert_outcomes(passed=1)
    assert "= leakcheck =" not in result.stdout.str()
    # why the README says -o, not -p no:, turns it off: the ini key is then unknown
    result = run_leakcheck(LEAKY, "-p", "no:leakcheck", "--strict-config", leakcheck=False)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*Unknown config option: leakcheck*"])


# -- warn mode -------------------------------------------------------------------------


def test_warn_mode_points_at_the_test_that_leaked(run_leakcheck):
    result = run_leakcheck(LEAKY, "--leakcheck-mode=warn")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*test_inner.py:3: LeakWarning: leakcheck: this test left*"])
    assert "_session.py" not in result.stdout.str()
    # and a filter naming the test's module applies to it
    result = run_leakcheck(
        LEAKY, "--leakcheck-mode=warn", "-W", "ignore::pytest_leakcheck.LeakWarning:test_inner"
    )
    result.assert_outcomes(passed=1, warnings=0)
