"""Property: the verdict is "leak" exactly when something outlived its test (issue 7).

Hypothesis draws programs of start/stop actions over threads and asyncio tasks:
each actor is started in a test's setup, call or teardown and is stopped

- ``prompt``: stopped and joined (or awaited to done) by the end of a phase at
  or after the one that started it;
- ``within``: released at the very end of the test's teardown, so it is still
  alive when the check begins and exits during the grace period;
- ``beyond``: released only when the inner session ends (``pytest_unconfigure``);
- ``never``: blocked for ever (a daemon, so the inner process can exit).

Each drawn program becomes one inner test file with several tests, run for real
with ``--leakcheck`` in a subprocess. The JSON report must list exactly the
``beyond``/``never`` actors, each against the test (and phase) that started it, and each
test must fail at teardown exactly when it has one; the session summary must
list exactly those as still alive.

Determinism: tasks run on a loop that a conftest starts in a thread before the
session (so the loop and its thread are nobody's leak). A ``within`` actor
signals "leaving" when released and the teardown waits for that signal, so what
is left for it to do during the grace is a 10 ms sleep and returning; tests with
such actors get a grace of several seconds (the check returns as soon as they
are gone), which a loaded machine cannot exhaust.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: Same bound as conftest.INNER_RUN_TIMEOUT: a hang fails the case, never the suite.
INNER_RUN_TIMEOUT = 120

PHASES = ("setup", "call", "teardown")
STOPS = ("prompt", "within", "beyond", "never")
#: Grace for tests with ``within`` actors (seconds of summed sleeps) and for the others.
GENEROUS_GRACE = 1.5
SHORT_GRACE = 0.05

INNER_CONFTEST = '''
import asyncio
import threading
import time

import pytest

# Running before the session starts: the loop and its thread are in every snapshot.
LOOP = asyncio.new_event_loop()
threading.Thread(target=LOOP.run_forever, daemon=True, name="session-loop").start()
SESSION_END = threading.Event()  # releases the "beyond" threads
NEVER = threading.Event()  # never set
ACTORS = []  # strong references: a pending task is only weakly held by its loop


def _in_loop(func):
    """Run *func* in the loop thread and return its result."""
    done, box = threading.Event(), []
    def call():
        box.append(func())
        done.set()
    LOOP.call_soon_threadsafe(call)
    assert done.wait(60)
    return box[0]


_LOOP_GATES = _in_loop(lambda: {"beyond": asyncio.Event(), "never": asyncio.Event()})


def pytest_unconfigure(config):
    SESSION_END.set()
    LOOP.call_soon_threadsafe(_LOOP_GATES["beyond"].set)
    # the "never" tasks: cancelled only so the exiting interpreter does not
    # complain about pending tasks (the summary has already listed them)
    _in_loop(lambda: [task.cancel() for task in asyncio.all_tasks(LOOP)])
    _in_loop(lambda: None)


class Actor:
    def __init__(self, kind, name, start, stop, stop_phase):
        self.kind, self.name, self.start_phase = kind, name, start
        self.stop, self.stop_phase = stop, stop_phase
        self.leaving = threading.Event()
        self.finished = threading.Event()
        ACTORS.append(self)

    def start(self):
        if self.kind == "thread":
            gate = {"beyond": SESSION_END, "never": NEVER}.get(self.stop, threading.Event())
            self.gate = gate
            def body():
                gate.wait()
                self.leaving.set()
                if self.stop == "within":
                    time.sleep(0.01)  # still alive for a moment after its test
            self.thread = threading.Thread(target=body, name=self.name, daemon=True)
            self.thread.start()
        else:
            async def body(gate):
                await gate.wait()
                self.leaving.set()
                if self.stop == "within":
                    await asyncio.sleep(0.01)
            def create():
                gate = _LOOP_GATES.get(self.stop) or asyncio.Event()
                task = LOOP.create_task(body(gate), name=self.name)
                task.add_done_callback(lambda _: self.finished.set())
                return gate, task
            self.gate, self.task = _in_loop(create)

    def release(self):
        if self.kind == "thread":
            self.gate.set()
        else:
            LOOP.call_soon_threadsafe(self.gate.set)
        assert self.leaving.wait(60)

    def join(self):
        if self.kind == "thread":
            self.thread.join(60)
            assert not self.thread.is_alive()
        else:
            assert self.finished.wait(60)


def run_phase(actors, phase):
    for actor in actors:
        if actor.start_phase == phase:
            actor.start()
    for actor in actors:
        if actor.stop == "prompt" and actor.stop_phase == phase:
            actor.release()
            actor.join()
    if phase == "teardown":  # the very end of the test: the late ones may go now
        for actor in actors:
            if actor.stop == "within":
                actor.release()


@pytest.fixture
def actors(request):
    actors = [Actor(*spec) for spec in request.module.PROGRAMS[request.node.name]]
    run_phase(actors, "setup")
    yield actors
    run_phase(actors, "teardown")
'''

actor_spec = st.tuples(
    st.sampled_from(("thread", "task")),
    st.integers(0, 2),  # start phase
    st.sampled_from(STOPS),
    st.integers(0, 2),  # stop phase for "prompt" (never before the start phase)
)
program_spec = st.lists(st.lists(actor_spec, max_size=3), min_size=2, max_size=5)


def build(
    program: list[list[tuple[str, int, str, int]]],
) -> tuple[str, set[tuple[str, str, str, str]]]:
    """The inner test file for *program*, and the findings it must produce."""
    programs: dict[str, list[tuple[str, str, str, str, str]]] = {}
    expected: set[tuple[str, str, str, str]] = set()
    tests = []
    for t, actors in enumerate(program):
        test = f"test_{t}"
        specs = []
        for a, (kind, start, stop, stop_phase) in enumerate(actors):
            name = f"{test}_{kind}{a}_{PHASES[start]}_{stop}"
            specs.append((kind, name, PHASES[start], stop, PHASES[max(start, stop_phase)]))
            if stop in ("beyond", "never"):
                expected.add((f"test_inner.py::{test}", kind, name, PHASES[start]))
        programs[test] = specs
        grace = GENEROUS_GRACE if any(s[3] == "within" for s in specs) else SHORT_GRACE
        tests.append(
            f"@pytest.mark.leakcheck(timeout={grace})\n"
            f"def {test}(actors):\n"
            f"    run_phase(actors, 'call')\n"
        )
    source = (
        "import pytest\nfrom conftest import run_phase\n\n"
        f"PROGRAMS = {programs!r}\n\n\n" + "\n\n".join(tests)
    )
    return source, expected


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=program_spec)
def test_verdict_is_leak_iff_something_outlived_its_test_and_blame_is_exact(
    program: list[list[tuple[str, int, str, int]]],
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    source, expected = build(program)
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_inner=source)
    report = pytester.path / "report.json"
    report.unlink(missing_ok=True)
    result = pytester.runpytest_subprocess(
        "-p",
        "pytest_leakcheck.plugin",
        "--leakcheck",
        "-p",
        "no:cacheprovider",
        f"--leakcheck-report={report}",
        "--leakcheck-timeout=0.05",  # the session-end look (each test has its marker)
        "-W",
        "error::pytest_leakcheck.LeakcheckInternalWarning",
        timeout=INNER_RUN_TIMEOUT,
    )
    out = result.stdout.str()
    assert "INTERNALERROR" not in out and "LeakcheckInternalWarning" not in out, out
    leaky_tests = {test for test, *_ in expected}
    result.assert_outcomes(passed=len(program), errors=len(leaky_tests))
    data = json.loads(report.read_text())
    found = {(f["test"], f["kind"], f["name"], f["started_phase"]) for f in data["leaks"]}
    assert found == expected, out
    # blame is exact in the terminal too: one teardown error per leaky test, its own
    for test in leaky_tests:
        assert out.count(f"ERROR at teardown of {test.split('::')[1]} ") == 1, out
    assert data["tests_checked"] == len(program)
    alive = {(f["kind"], f["name"]) for f in data["alive_at_session_end"]}
    assert alive == {(kind, name) for _, kind, name, _ in expected}, out


def test_the_generated_file_is_what_the_property_claims() -> None:
    """A fixed program, checked by eye: the expectation covers beyond and never only."""
    source, expected = build(
        [[("thread", 0, "prompt", 2), ("task", 1, "never", 0)], [("task", 2, "within", 0)]]
    )
    assert "timeout=1.5" in source and "timeout=0.05" in source
    assert expected == {("test_inner.py::test_0", "task", "test_0_task1_call_never", "call")}
    compile(source, "test_inner.py", "exec")
    compile(textwrap.dedent(INNER_CONFTEST), "conftest.py", "exec")
