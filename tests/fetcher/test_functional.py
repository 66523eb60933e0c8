"""The kata's functional requirements, on both backends, against the fake web.

Completeness, streaming, errors as results, bounded concurrency (the peak
equals the bound, never more), partial results, consumer exceptions
unchanged. Synchronisation is by events on the fake web, never by sleeping.
"""

from __future__ import annotations

import asyncio
import collections
import sys
from collections.abc import Iterator

import anyio
import httpx
import pytest

from fetcher import DataFetcher, Result

from .mocks import MockWeb, iter_once
from .probes import fetcher_tasks, live_task_names

pytestmark = pytest.mark.anyio


async def collect(fetcher: DataFetcher, urls: object) -> list[Result]:
    async with fetcher.fetch(urls) as results:  # type: ignore[arg-type]
        return [r async for r in results]


async def test_every_url_gives_exactly_one_result(web: MockWeb) -> None:
    urls = web.urls(12, delay=0.001) + web.urls(12)
    urls += urls[:5]  # duplicates: fetched once per occurrence
    got = await collect(DataFetcher(max_concurrency=4), urls)
    assert collections.Counter(r.url for r in got) == collections.Counter(urls)
    assert all(r.body == b"ok" and r.error is None for r in got)
    assert collections.Counter(web.requested) == collections.Counter(urls)


async def test_one_shot_generator_input(web: MockWeb) -> None:
    urls = web.urls(10)
    got = await collect(DataFetcher(max_concurrency=3), iter_once(urls))
    assert sorted(r.url for r in got) == sorted(urls)


async def test_httpx_url_items_come_back_as_str(web: MockWeb) -> None:
    url = web.url()
    [r] = await collect(DataFetcher(), [httpx.URL(url)])
    assert r.url == url and r.body == b"ok"


async def test_empty_input_ends_at_once(web: MockWeb) -> None:
    for bound in (None, 3):
        assert await collect(DataFetcher(max_concurrency=bound), []) == []
    assert web.started == 0


async def test_results_stream_while_a_slow_fetch_is_still_running(web: MockWeb) -> None:
    slow, fast = web.url("slow", gated=True), web.url("fast")
    async with DataFetcher().fetch([slow, fast]) as results:
        first = await results.__anext__()
        assert first.url == fast
        assert web.in_flight == 1  # the slow one is still being fetched
        web.open_gate()
        rest = [r async for r in results]
    assert [r.url for r in rest] == [slow]


async def test_fetching_starts_on_entering_the_block(web: MockWeb) -> None:
    urls = web.urls(5, gated=True)
    async with DataFetcher().fetch(urls) as results:
        await web.wait_in_flight(5)  # nothing read yet
        web.open_gate()
        assert len([r async for r in results]) == 5


async def test_failures_are_results_and_never_stop_the_others(web: MockWeb) -> None:
    good = web.urls(3)
    bad = {
        web.url("e500", status=500): httpx.HTTPStatusError,
        web.url("e404", status=404): httpx.HTTPStatusError,
        web.url("e302", status=302): httpx.HTTPStatusError,  # not followed: no Location
        web.url("conn", fail=httpx.ConnectError): httpx.ConnectError,
        web.url("read", fail=httpx.ReadError): httpx.ReadError,
        "ftp://mock.test/file": httpx.UnsupportedProtocol,
        "http://[::1": httpx.InvalidURL,
    }
    got = {r.url: r for r in await collect(DataFetcher(max_concurrency=2), good + list(bad))}
    assert len(got) == len(good) + len(bad)
    for url in good:
        assert got[url].body == b"ok" and got[url].error is None
    for url, kind in bad.items():
        assert type(got[url].error) is kind, (url, got[url].error)
        assert got[url].body is None
    status = got[next(u for u in bad if "e500" in u)].error
    assert isinstance(status, httpx.HTTPStatusError) and status.response.status_code == 500
    assert not any(u.startswith("ftp") for u in web.requested)  # refused, never requested


async def test_a_3xx_the_given_client_does_not_follow_is_an_error(web: MockWeb) -> None:
    async with httpx.AsyncClient(follow_redirects=False) as client:
        [r] = await collect(DataFetcher(client), [web.url(status=301)])
    assert isinstance(r.error, httpx.HTTPStatusError) and r.body is None


@pytest.mark.parametrize("bound", [1, 4, 7])
async def test_peak_in_flight_equals_the_bound(web: MockWeb, bound: int) -> None:
    urls = web.urls(20, gated=True)
    async with DataFetcher(max_concurrency=bound).fetch(urls) as results:
        await web.wait_in_flight(bound)
        for _ in range(20):  # give a misbehaving fetcher every chance to exceed it
            await anyio.lowlevel.checkpoint()
        assert web.in_flight == bound
        web.open_gate()
        got = [r async for r in results]
    assert len(got) == 20
    assert web.peak == bound


async def test_bound_larger_than_input_runs_all_at_once(web: MockWeb) -> None:
    urls = web.urls(5, gated=True)
    async with DataFetcher(max_concurrency=64).fetch(urls) as results:
        await web.wait_in_flight(5)
        web.open_gate()
        assert len([r async for r in results]) == 5
    assert web.peak == 5


async def test_the_bound_is_per_fetch_call(web: MockWeb) -> None:
    fetcher = DataFetcher(max_concurrency=2)
    a, b = web.urls(4, gated=True), web.urls(4, gated=True)
    async with fetcher.fetch(a) as ra, fetcher.fetch(b) as rb:
        await web.wait_in_flight(4)
        web.open_gate()
        assert len([r async for r in ra]) == 4 and len([r async for r in rb]) == 4
    assert web.peak == 4


async def test_hundred_thousand_urls_hold_only_the_pool(web: MockWeb) -> None:
    """O(max_concurrency) tasks, and a collection is pulled lazily (no copy)."""
    url = web.url("big", gated=True)

    class Counted(collections.abc.Collection[str]):
        """100,000 URLs that count how far they have been iterated."""

        def __init__(self) -> None:
            self.yielded = 0

        def __len__(self) -> int:
            return 100_000

        def __contains__(self, item: object) -> bool:
            return item == url

        def __iter__(self) -> Iterator[str]:
            for _ in range(100_000):
                self.yielded += 1
                yield url

    urls = Counted()
    before = len(live_task_names())
    fetch = DataFetcher(max_concurrency=64).fetch(urls)
    assert urls.yielded == 100_000  # the validation pass, which keeps nothing
    async with fetch as results:
        await web.wait_in_flight(64)
        assert len(live_task_names()) <= before + 64 + 1  # workers + one producer
        assert urls.yielded - 100_000 <= 64  # the workers pull lazily
        web.open_gate()
        await results.__anext__()
    assert fetcher_tasks() == [] and web.in_flight == 0
    assert urls.yielded - 100_000 < 1000


async def test_hundred_thousand_from_a_generator_still_hold_only_the_pool(web: MockWeb) -> None:
    url = web.url("gen", gated=True)
    before = len(live_task_names())
    async with DataFetcher(max_concurrency=64).fetch(url for _ in range(100_000)) as results:
        await web.wait_in_flight(64)
        assert len(live_task_names()) <= before + 64 + 1
        del results
    assert fetcher_tasks() == [] and web.in_flight == 0


async def test_partial_results_survive_a_cancellation(web: MockWeb) -> None:
    fast, slow = web.urls(5), web.urls(5, gated=True)
    kept: list[Result] = []
    with anyio.CancelScope() as scope:
        async with DataFetcher().fetch(slow + fast) as results:
            async for r in results:
                kept.append(r)
                if len(kept) == 5:
                    scope.cancel()
    assert scope.cancelled_caught
    assert sorted(r.url for r in kept) == sorted(fast)
    assert all(r.body == b"ok" for r in kept)
    assert web.in_flight == 0 and web.cancelled == 5


class Boom(Exception):
    pass


@pytest.mark.parametrize("exc_type", [Boom, KeyboardInterrupt, SystemExit])
async def test_consumer_exception_comes_out_unchanged(
    web: MockWeb, exc_type: type[BaseException]
) -> None:
    raised = exc_type("from the body")
    urls = web.urls(3) + web.urls(10, gated=True)
    with pytest.raises(exc_type) as info:
        async with DataFetcher(max_concurrency=4).fetch(urls) as results:
            await results.__anext__()
            raise raised
    assert info.value is raised  # the same object, not wrapped in an ExceptionGroup
    assert web.in_flight == 0 and fetcher_tasks() == []


async def test_exception_before_any_read_comes_out_unchanged(web: MockWeb) -> None:
    raised = Boom()
    with pytest.raises(Boom) as info:
        async with DataFetcher().fetch(web.urls(5, gated=True)):
            raise raised
    assert info.value is raised


async def test_given_client_is_used_for_every_request_and_left_open(web: MockWeb) -> None:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    urls = web.urls(6)
    async with httpx.AsyncClient(event_hooks={"request": [hook]}) as client:
        got = await collect(DataFetcher(client, max_concurrency=2), urls + urls[:1])
        assert sorted(seen) == sorted(urls + urls[:1])
        assert all(r.ok for r in got)
        assert not client.is_closed


async def test_given_client_base_url_applies(web: MockWeb) -> None:
    url = web.url("rel")
    async with httpx.AsyncClient(base_url="http://mock.test") as client:
        [r] = await collect(DataFetcher(client), [httpx.URL(url).path])
    assert r.body == b"ok"


async def test_reading_after_the_block_is_a_clear_error(web: MockWeb) -> None:
    async with DataFetcher().fetch(web.urls(2)) as results:
        pass
    with pytest.raises(RuntimeError, match="only be read inside their async with block"):
        await results.__anext__()


async def test_a_block_is_single_use(web: MockWeb) -> None:
    block = DataFetcher().fetch(web.urls(1))
    async with block as results:
        [r async for r in results]
    with pytest.raises(RuntimeError, match="entered only once"):
        async with block:
            pass


async def test_a_collection_mutated_during_the_block_fails_loudly(web: MockWeb) -> None:
    urls: list[object] = [web.url(gated=True)]
    async with DataFetcher(max_concurrency=1).fetch(urls) as results:  # type: ignore[arg-type]
        await web.wait_in_flight(1)
        urls.append(42)
        web.open_gate()
        with pytest.raises(TypeError, match=r"urls\[1\] must be a str or httpx.URL, got int: 42"):
            [r async for r in results]
    assert fetcher_tasks() == []


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
async def test_asyncio_timeout_raises_timeout_error(web: MockWeb) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):  # type: ignore[attr-defined, unused-ignore]
            async with DataFetcher().fetch(web.urls(10, gated=True)) as results:
                [r async for r in results]
    assert web.in_flight == 0 and fetcher_tasks() == []


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_task_cancel_ends_the_task_cancelled(web: MockWeb) -> None:
    async def consume() -> None:
        async with DataFetcher().fetch(web.urls(10, gated=True)) as results:
            [r async for r in results]

    task = asyncio.create_task(consume())
    await web.wait_in_flight(10)
    assert task.cancel()
    await asyncio.wait([task])
    assert task.cancelled()
    assert web.in_flight == 0 and fetcher_tasks() == []
