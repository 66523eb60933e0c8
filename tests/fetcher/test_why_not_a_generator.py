"""Why ``fetch()`` is an async context manager: the generator version leaks.

``docs/fetcher-design.md`` (and the docstring of :mod:`fetcher.datafetcher`) claims that a ``break``
out of ``async for`` over an async generator leaves its producers running.
This shows it with the plugin, next to the real fetcher passing the same
check: the kata's Forgotten Sender, in Python.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import anyio
import httpx
import pytest

from fetcher import DataFetcher, Result
from pytest_leakcheck import LeakChecker

from .mocks import MockWeb
from .probes import assert_back_to_baseline, baseline

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]


async def naive_fetch(urls: list[str]) -> AsyncGenerator[Result, None]:
    """The tempting shape: producers in a task group, results yielded out of it."""
    send, receive = anyio.create_memory_object_stream[Result]()
    async with httpx.AsyncClient() as client, anyio.create_task_group() as tg:

        async def produce(url: str, send: anyio.abc.ObjectSendStream[Result]) -> None:
            async with send:
                response = await client.get(url)
                await send.send(Result(url, body=response.content))

        async with send:
            for url in urls:
                tg.start_soon(produce, url, send.clone())
        async with receive:
            async for result in receive:
                yield result  # the consumer's body runs while we sit here


async def test_async_generator_leaves_its_producers_behind(
    web: MockWeb, leakcheck: LeakChecker
) -> None:
    base = baseline(leakcheck)
    gen = naive_fetch([web.url(), *web.urls(5, gated=True)])
    async for _ in gen:
        break  # does not close the generator
    leaks = await leakcheck.find_leaks_async(base.snapshot, timeout=0)
    assert len(leaks) == 5 and web.in_flight == 5  # the forgotten senders
    # Closing it by hand (what only garbage collection would otherwise do,
    # some day, from another context) stops them, and still goes wrong: the
    # GeneratorExit thrown in at the yield comes out of the task group
    # wrapped in an ExceptionGroup.
    with pytest.raises(BaseException) as info:  # a BaseExceptionGroup, on 3.10 too
        await gen.aclose()
    assert type(info.value).__name__ == "BaseExceptionGroup"
    assert [type(e) for e in info.value.exceptions] == [GeneratorExit]  # type: ignore[attr-defined]
    assert web.in_flight == 0


async def test_the_fetcher_does_not(web: MockWeb, leakcheck: LeakChecker) -> None:
    base = baseline(leakcheck)
    async with DataFetcher().fetch([web.url(), *web.urls(5, gated=True)]) as results:
        async for _ in results:
            break
    await assert_back_to_baseline(leakcheck, base)
    assert web.in_flight == 0
