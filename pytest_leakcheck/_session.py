"""Per-test orchestration for a pytest session with leak checking on.

Snapshot before each test's setup, verdict after its teardown, blame on the
owner that started each straggler (the test, or a higher-scoped fixture,
checked when it is finalized), the failure report on the teardown report,
and a terminal summary. Everything it decides, it decides through the
library API; a crash in here becomes one warning, never a broken session.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import pytest

from . import _patches
from ._options import Options
from ._os_threads import native_thread_ids
from ._provenance import PROVENANCE
from ._report import format_leaks
from ._settings import MarkerError, Settings, item_settings
from ._snapshot import Snapshot, snapshot
from ._summary import Summary
from ._values import ENDED_KINDS, Leak, Owner
from ._verdict import find_leaks
from ._warnings import LeakcheckInternalWarning, LeakWarning

__all__ = ["LeakcheckSession"]


@dataclass(slots=True)
class _TestState:
    """What one test's check needs between its setup and its verdict."""

    owner: Owner
    options: Options
    before: Snapshot | None  # dropped after the verdict
    leaks: list[Leak] = field(default_factory=list)
    fixture_leaks: list[tuple[Owner, list[Leak]]] = field(default_factory=list)
    report: str = ""


_STATE = pytest.StashKey[_TestState]()


class _Guard:
    """Turns our own crash into one LeakcheckInternalWarning (a class, not a
    generator-based context manager: it is entered twice per test)."""

    __slots__ = ("where",)

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
        if not isinstance(exc, Exception) or isinstance(exc, (LeakWarning, pytest.fail.Exception)):
            return False  # no error, or one that is not ours to swallow
        warnings.warn(
            LeakcheckInternalWarning(
                f"pytest-leakcheck failed while checking {self.where}: {type(exc).__name__}: {exc}"
            ),
            stacklevel=1,
        )
        return True


def _warn_at_test(item: pytest.Item, warning: Warning) -> None:
    """Warn from the leaking test's own file and line, not from this module.

    Then the warnings summary points at the test, and ``filterwarnings``
    entries that name its module apply to it.
    """
    path, lineno, _ = item.reportinfo()
    module = getattr(getattr(item, "module", None), "__name__", None)
    line = lineno + 1 if lineno is not None else 0  # reportinfo counts from 0
    warnings.warn_explicit(warning, type(warning), os.fspath(path), line, module=module)


class LeakcheckSession:
    """The plugin object registered while checking is on."""

    NAME = "leakcheck-session"

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.summary = Summary()
        self.orphan_fixture_leaks: list[tuple[Owner, list[Leak]]] = []
        self._fixture_owners: dict[int, Owner] = {}
        self._current: _TestState | None = None
        self._pid = os.getpid()
        self._session_before: Snapshot | None = None
        self._session: pytest.Session | None = None  # to fail the run if the report is lost
        #: set on an xdist controller: the summary is its workers' (it runs no test)
        self.remote = False
        PROVENANCE.capture_stacks = settings.options.capture_stacks
        _patches.install()

    def close(self) -> None:
        _patches.uninstall()

    # -- safety ---------------------------------------------------------------

    def in_child(self) -> bool:
        """A test forked: the child must not check or report anything."""
        return os.getpid() != self._pid

    def _guard(self, where: str) -> _Guard:
        """Our own failure is one warning naming us; the test's verdict stands."""
        return _Guard(where)

    # -- session ----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._session = session
        self._session_before = snapshot(native=self.settings.options.check_native)

    # -- fixtures -------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        if fixturedef.scope == "function" or self.in_child():
            return (yield)
        owner = Owner("fixture", fixturedef.argname, fixturedef.scope, request.node.nodeid)
        self._fixture_owners[id(fixturedef)] = owner
        PROVENANCE.push_owner(owner)
        try:
            return (yield)
        finally:
            PROVENANCE.pop_owner(owner)

    def pytest_fixture_post_finalizer(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> None:
        owner = self._fixture_owners.pop(id(fixturedef), None)
        if owner is None or self.in_child():
            return
        with self._guard(owner.describe()):
            leaks = find_leaks(None, options=self.settings.options, owner=owner)
            if not leaks:
                return
            if self._current is not None:
                self._current.fixture_leaks.append((owner, leaks))
            else:
                self.orphan_fixture_leaks.append((owner, leaks))
                self.summary.record(owner.describe(), leaks)

    # -- tests ------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        marker_error: MarkerError | None = None
        if not self.in_child():
            try:
                enabled, options = item_settings(item, self.settings.options)
            except MarkerError as exc:
                # Reported after setup has run: raising before the yield would
                # skip other plugins' setup wrappers and break their teardown.
                # Meanwhile the check runs with the session's options: a bad
                # marker never hides a leak.
                marker_error, enabled, options = exc, True, self.settings.options
            if enabled:
                with self._guard(item.nodeid):
                    owner = Owner("test", item.nodeid)
                    state = _TestState(owner, options, snapshot(native=options.check_native))
                    item.stash[_STATE] = state
                    PROVENANCE.push_owner(owner)
        PROVENANCE.phase = "setup"
        try:
            result = yield
        finally:
            PROVENANCE.phase = "call"  # what starts next is the test's call (one hook fewer)
        if marker_error is not None:
            pytest.fail(str(marker_error), pytrace=False)
        return result

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, None, None]:
        """The verdict, once every finalizer has run; a leak fails the teardown.

        The failure is raised here, as any failing finalizer's would be, so
        pytest builds the teardown report from it (no report wrapper, which
        would cost a call on every phase of every test).
        """
        PROVENANCE.phase = "teardown"
        state = item.stash.get(_STATE, None)
        self._current = state
        try:
            result = yield
        except BaseException:
            failure = self._finish(item, state)
            if failure:
                # The teardown failed on its own: its error stays the report's
                # error, and the leaks are a section of that report.
                item.add_report_section("teardown", "leakcheck", failure)
            raise
        failure = self._finish(item, state)
        if failure:
            pytest.fail(failure, pytrace=False)
        return result

    def _finish(self, item: pytest.Item, state: _TestState | None) -> str:
        """End the test's check; the leak report to fail its teardown with, or ""."""
        self._current = None
        PROVENANCE.phase = None
        if state is None:
            return ""
        # pytest keeps every item (and its stash) to the end of the session:
        # 2,000 states left there made each full garbage collection walk
        # 8,000 more objects.
        del item.stash[_STATE]
        PROVENANCE.pop_owner(state.owner)
        if self.in_child():
            return ""
        self._verdict(item, state)
        return state.report if self.settings.mode == "fail" else ""

    def _verdict(self, item: pytest.Item, state: _TestState) -> None:
        with self._guard(item.nodeid):
            self.summary.checked += 1
            state.leaks = find_leaks(state.before, options=state.options, owner=state.owner)
            state.before = None  # not needed past this point: free it now
            parts = []
            if state.leaks:
                parts.append(format_leaks(state.leaks, who="this test"))
                self.summary.record(item.nodeid, state.leaks)
            for owner, leaks in state.fixture_leaks:
                parts.append(format_leaks(leaks, who=owner.describe()))
                self.summary.record(owner.describe(), leaks)
            state.report = "\n\n".join(parts)
            if PROVENANCE.errors:  # failures inside instrumented calls during this test
                errors, PROVENANCE.errors[:] = list(PROVENANCE.errors), []
                raise RuntimeError("; ".join(dict.fromkeys(errors)))
        if state.report and self.settings.mode == "warn":
            _warn_at_test(item, LeakWarning(state.report))

    # -- summary ----------------------------------------------------------------

    def final_summary(self, grace: bool = True) -> Summary:
        """The summary with what is still alive now (from the workers, under xdist)."""
        if not self.remote and self._session_before is not None and not self.in_child():
            timeout = None if grace else 0.0
            leaks = find_leaks(self._session_before, options=self.settings.options, timeout=timeout)
            # reaped tasks are gone: only what still runs is "alive"
            self.summary.alive = [leak for leak in leaks if leak.kind not in ENDED_KINDS]
        return self.summary

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        if self.in_child():
            return
        with self._guard("the session summary"):
            tr = terminalreporter
            # After Ctrl-C, say what is alive now: no grace period to sit through.
            summary = self.final_summary(grace=exitstatus != pytest.ExitCode.INTERRUPTED)
            tr.section("leakcheck")
            for text, markup in summary.lines():
                tr.write_line(text, **markup)
            if self.settings.options.check_native and native_thread_ids() is None:
                tr.write_line("native (OS) thread check: unavailable on this platform (no /proc)")
            if self.settings.report_path:
                self._write_report(summary, tr, self.settings.report_path)

    def _write_report(self, summary: Summary, tr: Any, path: str) -> None:
        """Write the JSON report; if that fails, say so and fail the run.

        The path was checked at start; a write that fails anyway (the
        directory was removed, the disk is full) turns a passing run's exit
        code into 3, pytest's "internal error": a CI job must not pass while
        the report it keeps is missing.
        """
        try:
            summary.write_json(path)
        except OSError as exc:
            tr.write_line(
                f"could not write the leak report to {path}: {exc.strerror or exc}", red=True
            )
            if self._session is not None and self._session.exitstatus == pytest.ExitCode.OK:
                self._session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        else:
            tr.write_line(f"leak report written to {path}")
