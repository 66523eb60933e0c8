"""Helpers for the plugin's own tests: every case is a real inner pytest run."""

from __future__ import annotations

import textwrap

import pytest

#: A generous bound on one inner pytest run: a hang fails the case, never the suite.
INNER_RUN_TIMEOUT = 120


#: Installed plugins an inner case does not load unless its arguments use them
#: (plugin name -> the options that need it): together they were half of each
#: inner run's start-up, and rerunfailures starts a server thread per session.
OPTIONAL_PLUGINS = {
    "hypothesispytest": (),
    "respx": (),
    "rerunfailures": ("--reruns", "--only-rerun"),
    "xdist": ("-n", "--numprocesses", "--dist"),
}


def _unneeded_plugins(args: tuple[str, ...]) -> list[str]:
    return [
        arg
        for plugin, options in OPTIONAL_PLUGINS.items()
        if not any(a.startswith(options) for a in args if options)
        for arg in ("-p", f"no:{plugin}")
    ]


@pytest.fixture
def run_leakcheck(pytester: pytest.Pytester):  # type: ignore[no-untyped-def]
    """Write *source* as a test module and run it with ``--leakcheck`` in a subprocess."""

    def run(source: str, *args: str, leakcheck: bool = True) -> pytest.RunResult:
        pytester.makepyfile(test_inner=textwrap.dedent(source))
        extra = ("--leakcheck",) if leakcheck else ()
        # Inner sessions run in file order (the cases are written as sequences:
        # "a leaks, b is innocent"); a case that wants random order passes
        # "-p randomly", which undoes this.
        return pytester.runpytest_subprocess(
            *extra,
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *_unneeded_plugins(args),
            *args,
            timeout=INNER_RUN_TIMEOUT,
        )

    return run


@pytest.fixture(autouse=True)
def _inner_runs_behave_the_same_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest stops truncating its short summary when it sees CI (or BUILD_NUMBER).

    CI runs this suite with CI=true; inner runs inherit the environment, and
    their output must read the same as on a developer's machine.
    """
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
