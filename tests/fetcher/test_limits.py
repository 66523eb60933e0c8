"""Safety limits: refused schemes, oversized bodies and slow servers are Results."""

from __future__ import annotations

import httpx
import pytest

from fetcher import BodyTooLargeError, DataFetcher, Result

from .mocks import DEADLINE, MockWeb

pytestmark = pytest.mark.anyio


async def fetch_all(fetcher: DataFetcher, urls: list[str]) -> dict[str, Result]:
    async with fetcher.fetch(urls) as results:
        return {r.url: r async for r in results}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ftp://mock.test/f", "'ftp'"),
        ("file:///etc/passwd", "'file'"),
        ("mailto:someone@mock.test", "'mailto'"),
        ("mock.test/no-scheme", "no scheme"),
    ],
)
async def test_disallowed_scheme_is_refused_without_a_request(
    web: MockWeb, url: str, shown: str
) -> None:
    got = await fetch_all(DataFetcher(), [url, web.url()])
    error = got[url].error
    assert isinstance(error, httpx.UnsupportedProtocol)
    assert f"refusing to fetch {url!r}: {shown} is not an allowed scheme" in str(error)
    assert "allowed: http, https" in str(error)
    assert len(web.requested) == 1  # only the good one


async def test_allowed_schemes_can_be_narrowed(web: MockWeb) -> None:
    url = web.url()
    [r] = (await fetch_all(DataFetcher(allowed_schemes={"https"}), [url])).values()
    assert isinstance(r.error, httpx.UnsupportedProtocol) and web.started == 0


async def test_redirect_hops_are_checked_too(web: MockWeb) -> None:
    hop = web.url()
    start = "http://other.test/redirect-to-https"
    web.router.get(start).mock(
        return_value=httpx.Response(302, headers={"location": hop.replace("http", "https")})
    )
    got = await fetch_all(DataFetcher(allowed_schemes={"http"}), [start])
    assert isinstance(got[start].error, httpx.UnsupportedProtocol)
    assert web.started == 0  # the https hop was refused before it was sent


@pytest.mark.parametrize(("size", "ok"), [(999, True), (1000, True), (1001, False)])
async def test_body_size_limit(web: MockWeb, size: int, ok: bool) -> None:
    url = web.url(body=b"b" * size)
    [r] = (await fetch_all(DataFetcher(max_body_size=1000), [url])).values()
    if ok:
        assert r.body == b"b" * size
    else:
        assert isinstance(r.error, BodyTooLargeError) and r.body is None
        assert r.error.limit == 1000
        assert "exceeds max_body_size=1000 bytes" in str(r.error)


async def test_declared_length_over_the_limit_fails_before_reading(web: MockWeb) -> None:
    url = "http://other.test/declared"
    web.router.get(url).mock(
        return_value=httpx.Response(200, headers={"content-length": "5000000"}, content=b"")
    )
    [r] = (await fetch_all(DataFetcher(max_body_size=1000), [url])).values()
    assert isinstance(r.error, BodyTooLargeError) and r.error.seen == 5_000_000


async def test_no_body_limit_when_switched_off(web: MockWeb) -> None:
    url = web.url(body=b"z" * 50_000)
    [r] = (await fetch_all(DataFetcher(max_body_size=None), [url])).values()
    assert r.body is not None and len(r.body) == 50_000


async def test_request_timeout_is_a_result(web: MockWeb) -> None:
    slow, fast = web.url(delay=3600), web.url()
    got = await fetch_all(DataFetcher(timeout=DEADLINE), [slow, fast])
    error = got[slow].error
    assert isinstance(error, httpx.TimeoutException)
    assert error.request.url == slow
    assert f"within {DEADLINE:g} s" in str(error)
    assert got[fast].body == b"ok"
    assert web.in_flight == 0
