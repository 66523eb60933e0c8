"""Property test: the fetcher's contract holds for any URL mix and any way of leaving.

Hypothesis draws a list of URLs (with duplicates) whose behaviours vary in
delay, status and failure kind (transport errors, refused schemes, invalid
URLs, servers that never answer) and a way of leaving the block: read to
the end, ``break`` after k results (k = 0: leave before the first read),
cancel before the first result, raise from the body, or cancel from several
places at once (an outer scope, a deadline, two helpers on an inner scope,
and a ``break``). Every example then checks every invariant of the contract
(issue 3), on both anyio backends:

* nothing escapes but what the body itself raised, as the very same object;
* every Result delivered is for an input URL, at most once per occurrence,
  with exactly one of body/error, and is the right outcome for its URL
  (partial results are intact);
* read to the end: exactly one Result per input URL, and every fetchable
  occurrence was requested exactly once; otherwise never more;
* ``break`` after k: exactly min(k, N) Results; cancelled before the first:
  none;
* refused and invalid URLs are never requested; the bound on concurrency is
  never exceeded;
* at the instant the block is left: no fetcher task, no thread or task
  beyond the baseline (the plugin, no grace), no request in flight.

Each plan is its own test item with its own examples, so none is starved
by the draw. The examples are derandomized and use no database, so CI runs
the same ones every time (``FETCHER_PROPERTY_EXAMPLES`` raises the count
per plan for exploring).
Timing only decides *which* valid outcome an example has; the invariants
hold for all of them, so a slow machine cannot make this fail.
"""

from __future__ import annotations

import collections
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio
import httpx
import pytest
import respx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fetcher import DataFetcher, Result
from pytest_leakcheck import LeakChecker

from .mocks import HOST, MockWeb
from .probes import assert_back_to_baseline, baseline

pytestmark = pytest.mark.anyio

EXAMPLES = int(os.environ.get("FETCHER_PROPERTY_EXAMPLES", "15"))
"""Per plan and backend: 5 plans x 15 = 75 examples per backend."""
DELAYS = (0.0, 0.0, 0.0005, 0.002)
"""Mostly instant, a few real (cancellable) sleeps: enough to reorder results."""
JITTER = (0.0, 0.0, 0.0005, 0.001, 0.003)
"""When each of the several cancellations fires; zeros make them land in one loop turn."""

FAILURES: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.ReadTimeout,
    httpx.RemoteProtocolError,
)
REFUSED = ("ftp://mock.test/f", "file:///etc/passwd", "mailto:x@mock.test")
INVALID = ("", "http://", "http:///x", "http://[::1", "http://mock.test:99999/x")


@dataclass(frozen=True)
class Behaviour:
    """What one distinct URL does; ``raw`` is the URL itself for never-requested kinds."""

    kind: str  # ok | status | fail | refused | invalid | hang
    delay: float = 0.0
    status: int = 200
    fail: type[httpx.TransportError] | None = None
    raw: str = ""


@dataclass(frozen=True)
class Plan:
    """How the consumer leaves the block."""

    how: str  # end | break | cancel-first | raise | several
    k: int = 0
    delays: tuple[float, ...] = ()
    bound: int | None = None


@dataclass(frozen=True)
class Case:
    plan: Plan
    behaviours: tuple[Behaviour, ...]
    picks: tuple[int, ...]  # indices into behaviours: the URL list, duplicates included


def behaviours(allow_hang: bool) -> st.SearchStrategy[Behaviour]:
    delay = st.sampled_from(DELAYS)
    kinds = [
        st.builds(Behaviour, st.just("ok"), delay, st.sampled_from([200, 201, 203])),
        st.builds(Behaviour, st.just("status"), delay, st.sampled_from([301, 404, 410, 500])),
        st.builds(Behaviour, st.just("fail"), delay, st.just(200), st.sampled_from(FAILURES)),
        st.builds(Behaviour, st.just("refused"), raw=st.sampled_from(REFUSED)),
        st.builds(Behaviour, st.just("invalid"), raw=st.sampled_from(INVALID)),
    ]
    if allow_hang:
        kinds.append(st.just(Behaviour("hang")))
    return st.one_of(kinds)


@st.composite
def cases(draw: st.DrawFn, how: str) -> Case:
    """A plan, then URLs it can end with: never-answering URLs only where a cancel is certain."""
    bound = draw(st.sampled_from([None, 1, 2, 4]))
    plan = Plan(
        how,
        k=draw(st.integers(0, 12)) if how in ("break", "raise", "several") else 0,
        delays=tuple(draw(st.sampled_from(JITTER)) for _ in range(4)) if how == "several" else (),
        bound=bound,
    )
    allow_hang = how in ("cancel-first", "several")
    distinct = draw(st.lists(behaviours(allow_hang), min_size=1, max_size=5))
    # At least one URL: the empty input has its own test (test_functional).
    picks = draw(st.lists(st.integers(0, len(distinct) - 1), min_size=1, max_size=12))
    return Case(plan, tuple(distinct), tuple(picks))


@dataclass
class Run:
    """One example's URLs, what each must give, and what the consumer saw."""

    urls: list[str]
    expect: dict[str, Behaviour]
    received: list[Result] = field(default_factory=list)


def materialize(case: Case, web: MockWeb) -> Run:
    """Register each distinct behaviour on the fake web (or use its raw URL)."""
    addresses: list[str] = []
    expect: dict[str, Behaviour] = {}
    for b in case.behaviours:
        if b.kind in ("refused", "invalid"):
            url = b.raw
        elif b.kind == "hang":
            url = web.url("hang", gated=True)  # the gate never opens
        else:
            url = web.url(b.kind, delay=b.delay, status=b.status, fail=b.fail)
        addresses.append(url)
        expect[url] = b
    return Run([addresses[i] for i in case.picks], expect)


class BodyError(Exception):
    """Raised by the consumer's body; must come out of the block as the same object."""


async def _read(results: AsyncIterator[Result], run: Run, stop_after: int | None) -> None:
    if stop_after == 0:
        return
    async for r in results:
        run.received.append(r)
        if stop_after is not None and len(run.received) >= stop_after:
            return


async def drive(plan: Plan, run: Run) -> None:
    """Run the block and leave it the way *plan* says; check how it ended."""
    fetcher = DataFetcher(max_concurrency=plan.bound)
    if plan.how == "end":
        async with fetcher.fetch(run.urls) as results:
            await _read(results, run, None)
    elif plan.how == "break":
        async with fetcher.fetch(run.urls) as results:
            await _read(results, run, plan.k)
    elif plan.how == "cancel-first":
        with anyio.CancelScope() as scope:
            async with fetcher.fetch(run.urls) as results:
                scope.cancel()
                await _read(results, run, None)
        assert scope.cancelled_caught
    elif plan.how == "raise":
        raised = BodyError()
        with pytest.raises(BodyError) as info:
            async with fetcher.fetch(run.urls) as results:
                await _read(results, run, plan.k)
                raise raised
        assert info.value is raised
    else:
        await _several(fetcher, plan, run)


async def _several(fetcher: DataFetcher, plan: Plan, run: Run) -> None:
    """Outer scope, a deadline, two helpers on the inner scope and a ``break``, all at once.

    The outer helper always fires, so even a URL that never answers ends.
    Whichever lands first, every scope catches its own cancel: nothing escapes.
    """
    outer, inner = anyio.CancelScope(), anyio.CancelScope()
    d_outer, d_deadline, d_inner1, d_inner2 = plan.delays

    async def consumer() -> None:
        with outer, anyio.move_on_after(d_deadline), inner:
            async with fetcher.fetch(run.urls) as results:
                await _read(results, run, plan.k or None)

    async def cancel_later(scope: anyio.CancelScope, delay: float) -> None:
        await anyio.sleep(delay)
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        tg.start_soon(cancel_later, outer, d_outer)
        tg.start_soon(cancel_later, inner, d_inner1)
        tg.start_soon(cancel_later, inner, d_inner2)


def check_result(r: Result, b: Behaviour) -> None:
    """One delivered Result is exactly what its URL must give."""
    assert (r.body is None) != (r.error is None), r
    if b.kind == "ok":
        assert r.body == b"ok", r
    elif b.kind == "status":
        assert isinstance(r.error, httpx.HTTPStatusError), r
        assert r.error.response.status_code == b.status
    elif b.kind == "fail":
        assert type(r.error) is b.fail, r
    elif b.kind == "refused":
        assert type(r.error) is httpx.UnsupportedProtocol, r
    elif b.kind == "invalid":
        assert type(r.error) is httpx.InvalidURL, r
    else:
        raise AssertionError(f"a URL that never answers produced {r}")


def check_invariants(case: Case, run: Run, web: MockWeb) -> None:
    plan, n = case.plan, len(run.urls)
    inputs = collections.Counter(run.urls)
    got = collections.Counter(r.url for r in run.received)
    assert not got - inputs, f"Results for no input, or too many: {got - inputs}"
    for r in run.received:
        check_result(r, run.expect[r.url])

    fetchable = collections.Counter(u for u in run.urls if u.startswith(f"http://{HOST}/"))
    requested = collections.Counter(web.requested)
    assert not requested - fetchable, f"requested beyond the input: {requested - fetchable}"
    if plan.bound is not None:
        assert web.peak <= plan.bound, f"peak {web.peak} > bound {plan.bound}"

    if plan.how == "end":
        assert got == inputs, f"lost or extra: {(inputs - got) or (got - inputs)}"
        assert requested == fetchable
    elif plan.how in ("break", "raise"):
        assert len(run.received) == min(plan.k, n)
    elif plan.how == "cancel-first":
        assert run.received == []


PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,  # no wall-clock bound per example: a loaded CI box is slow
    derandomize=True,  # the same examples on every run: CI is deterministic
    database=None,  # and nothing is written to the shared tree
    # The leakcheck fixture is a checker, not state: each example takes its own baseline.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def check_example(leakcheck: LeakChecker, case: Case) -> None:
    """Run one example and check every invariant, the leak check at the instant first."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        web = MockWeb(router)
        run = materialize(case, web)
        # Shown by --hypothesis-show-statistics: what the examples covered.
        event(f"bound: {case.plan.bound}")
        event(f"distinct behaviours: {len(case.behaviours)}")
        if len(set(run.urls)) < len(run.urls):
            event("has duplicate URLs")
        if any(case.behaviours[i].kind == "hang" for i in case.picks):
            event("has a URL that never answers")
        base = baseline(leakcheck)
        await drive(case.plan, run)
        # At the very instant the block has been left, before anything else runs.
        await assert_back_to_baseline(leakcheck, base)
        assert web.in_flight == 0
        check_invariants(case, run, web)


def _property_test(how: str) -> Callable[..., object]:
    """One test per way of leaving, so that no plan is starved by the draw.

    The case is drawn by ``@given`` before the test body runs, outside the
    event loop: drawing inside it (``st.data()``) would let Hypothesis's
    StopTest, raised when a draw overruns, escape through anyio's runner.
    """

    @PROPERTY
    @given(case=cases(how))
    async def test(leakcheck: LeakChecker, case: Case) -> None:
        await check_example(leakcheck, case)

    return test


test_contract_reading_to_the_end = _property_test("end")
test_contract_break_after_k_results = _property_test("break")
test_contract_cancelled_before_the_first = _property_test("cancel-first")
test_contract_exception_in_the_body = _property_test("raise")
test_contract_cancelled_from_several_places = _property_test("several")
