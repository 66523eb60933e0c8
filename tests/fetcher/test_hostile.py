"""Hostile servers and bad input: every URL still ends as exactly one Result.

Against the real uvicorn server (``server.py``): a server that never
answers, one that drips bytes forever (slow-loris), an endless body, a body
cut off by FIN or by a TCP reset, a redirect loop; then URLs that must never
cause a request at all; then 10,000 URLs with duplicates and failures on the
fake web. Each failure must be that URL's Result with a clear error, never an
exception out of the block, never a hang, never unbounded memory, and the
block must leave nothing behind: the client's tasks are checked at the
instant it is left, the server's connections once it has seen them close.

Proof comes from counters, not clocks: the server counts requests and
connections, the fake web counts what it was asked. Deadlines in these tests
are short only where the deadline is the thing under test, and every result
is asserted by kind, never by how long it took.
"""

from __future__ import annotations

import collections
import gzip
import random
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from fetcher import BodyTooLargeError, DataFetcher, Result
from pytest_leakcheck import LeakChecker

from .mocks import DEADLINE, MockWeb
from .probes import assert_back_to_baseline, assert_own_tasks_back, baseline, fetcher_tasks
from .server import LiveServer

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


async def fetch_all(fetcher: DataFetcher, urls: list[str]) -> dict[str, Result]:
    """Every Result by URL, asserting on the way that none is lost or doubled."""
    async with fetcher.fetch(urls) as results:
        got = [r async for r in results]
    assert collections.Counter(r.url for r in got) == collections.Counter(urls)
    for r in got:
        assert (r.body is None) != (r.error is None), r  # exactly one of them
    return {r.url: r for r in got}


def assert_server_idle(server: LiveServer) -> None:
    """The server has seen every connection closed and every handler end."""
    stats = server.stats
    assert stats.wait_idle(), (
        f"server still sees {stats.connections_open} connection(s), {stats.in_flight} request(s)"
    )


async def fetch_all_with(own_client: bool, urls: list[str], timeout: float) -> dict[str, Result]:
    """With the fetcher's own client, or a given one with every httpx timeout off.

    A given client keeps idle connections in its pool; it is closed here so
    the server sees every connection go.
    """
    if own_client:
        return await fetch_all(DataFetcher(timeout=timeout), urls)
    async with httpx.AsyncClient(timeout=None) as client:
        return await fetch_all(DataFetcher(client, timeout=timeout), urls)


# -- servers that never finish -------------------------------------------------


@pytest.mark.parametrize("own_client", [True, False], ids=["own-client", "given-client"])
async def test_server_that_never_answers_is_a_timeout_result(
    server: LiveServer, leakcheck: LeakChecker, own_client: bool
) -> None:
    """/hang sends nothing, ever: the per-request timeout turns it into a Result.

    With the given client every httpx timeout is off, so the fetcher's own
    deadline is the only thing that can end the request. The sibling URL is
    unaffected: one stuck server does not hold the others' results.
    """
    base = baseline(leakcheck)
    hang, ok = server.url("/hang"), server.url("/ok")
    got = await fetch_all_with(own_client, [hang, ok], DEADLINE)
    assert_own_tasks_back(base)
    error = got[hang].error
    assert isinstance(error, httpx.TimeoutException), repr(error)
    if not own_client:  # only our deadline was armed, so it is our message
        assert f"no complete response from {hang} within {DEADLINE:g} s" in str(error)
    assert got[ok].body == b"ok"
    assert server.stats.paths.count("/hang") == 1  # it really was asked, once
    assert_server_idle(server)  # and the abandoned request was hung up on
    await leakcheck.assert_no_leaks_async(base.snapshot, timeout=0)


@pytest.mark.parametrize("own_client", [True, False], ids=["own-client", "given-client"])
async def test_slow_loris_is_bounded_by_the_whole_response_deadline(
    server: LiveServer, leakcheck: LeakChecker, own_client: bool
) -> None:
    """/drip sends a byte every 10 ms for hours: each read is quick, the response never ends.

    A per-read timeout never fires on such a server; the fetcher's timeout
    bounds the whole response (connect, headers and every body byte), so the
    URL still ends as a timeout Result. The given client has no httpx timeout
    at all, which makes the fetcher's deadline the only possible way out.
    """
    base = baseline(leakcheck)
    drip = server.url("/drip?chunks=1000000&size=1&delay=0.01")
    got = await fetch_all_with(own_client, [drip], 0.5)  # nothing else in the block
    assert_own_tasks_back(base)
    error = got[drip].error
    assert isinstance(error, httpx.TimeoutException), repr(error)
    if not own_client:
        assert f"no complete response from {drip} within 0.5 s" in str(error)
    assert_server_idle(server)
    await leakcheck.assert_no_leaks_async(base.snapshot, timeout=0)


# -- bodies too large ------------------------------------------------------------


async def _traced_peak(fetcher: DataFetcher, urls: list[str]) -> tuple[dict[str, Result], int]:
    """Fetch under tracemalloc; return the results and the peak bytes above the start."""
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        got = await fetch_all(fetcher, urls)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return got, peak - start


async def test_endless_body_stops_at_the_limit_with_memory_bounded(
    server: LiveServer, leakcheck: LeakChecker
) -> None:
    """/endless never stops sending: the size limit ends it, and memory stays near the limit.

    Four endless bodies at once, 2 MiB limit: the fetcher may hold each body
    up to the limit plus one network chunk, so about 8 MiB. Without the limit
    the peak would grow for as long as the server sends, i.e. for ever. The
    bound (3x the bodies the fetcher may keep, plus 4 MiB for httpx, the
    server thread's chunks and tracemalloc itself) is generous on purpose: it
    separates "bounded" from "unbounded", not one allocator from another.
    """
    base = baseline(leakcheck)
    limit, copies = 2 * MiB, 4
    urls = [server.url(f"/endless?n={i}") for i in range(copies)]
    got, peak = await _traced_peak(DataFetcher(max_body_size=limit), urls)
    assert_own_tasks_back(base)
    for url in urls:
        error = got[url].error
        assert isinstance(error, BodyTooLargeError), repr(error)
        assert error.limit == limit and error.seen > limit
        assert f"exceeds max_body_size={limit} bytes" in str(error)
    assert peak < 3 * copies * limit + 4 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert_server_idle(server)
    await leakcheck.assert_no_leaks_async(base.snapshot, timeout=0)


async def test_compression_bomb_is_stopped_with_memory_bounded(
    server: LiveServer, leakcheck: LeakChecker
) -> None:
    """64 KiB of gzip on the wire, 64 MiB decoded: the limit counts decoded bytes, as they come.

    Counting the bytes on the wire would let the bomb through, and letting
    httpx inflate a whole network chunk at once would hold ~64 MiB before
    the limit is even looked at. The fetcher inflates in bounded steps, so
    the peak stays near the limit (about 3-6 MiB measured, with the server
    thread's buffers and tracemalloc's own; the bound is 16 MiB, a quarter
    of what inflating at once holds). The first, untraced fetch warms the
    server's cache of the compressed body.
    """
    bomb = server.url("/gzip-bomb")
    await fetch_all(DataFetcher(max_body_size=MiB), [bomb])
    base = baseline(leakcheck)
    got, peak = await _traced_peak(DataFetcher(max_body_size=MiB), [bomb])
    assert_own_tasks_back(base)
    error = got[bomb].error
    assert isinstance(error, BodyTooLargeError), repr(error)
    assert f"exceeds max_body_size={MiB} bytes" in str(error)
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert_server_idle(server)
    await leakcheck.assert_no_leaks_async(base.snapshot, timeout=0)


async def test_stacked_compression_is_refused_when_a_limit_is_set(server: LiveServer) -> None:
    """Gzip inside gzip: under 1 KiB on the wire, 64 MiB decoded, ~64 KiB between the layers.

    One step of the outer layer could already hold a bomb for the inner one,
    so with a limit the fetcher decodes only one layer and says so. Without
    a limit httpx decodes everything, as asked.
    """
    bomb, small = server.url("/gzip-bomb?layers=2"), server.url("/gzip-bomb?layers=2&size=10")
    got = await fetch_all(DataFetcher(max_body_size=MiB), [bomb, small])
    for url in (bomb, small):
        error = got[url].error
        assert isinstance(error, httpx.DecodingError), repr(error)
        assert "content-encoding 'gzip, gzip' cannot be decoded within max_body_size" in str(error)
    unlimited = await fetch_all(DataFetcher(max_body_size=None), [small])
    assert unlimited[small].body == b"\0" * 10
    assert_server_idle(server)


class _RawStream(httpx.AsyncByteStream):
    """Bytes as they would come off the wire, in a few chunks.

    ``httpx.Response(content=...)`` would decode them eagerly, inside the mock.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self._data), 16_384):
            yield self._data[i : i + 16_384]


def _encoded_response(coding: str, data: bytes) -> httpx.Response:
    return httpx.Response(200, headers={"content-encoding": coding}, stream=_RawStream(data))


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),  # RFC 9110: the same as gzip (httpx alone leaves it encoded)
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, no zlib header
        ("gzip, identity", gzip.compress),
        ("identity", lambda b: b),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "gzip-identity", "identity"],
)
@pytest.mark.parametrize("limit", [MiB, None], ids=["limit", "no-limit"])
async def test_compressed_bodies_decode_as_httpx_would(
    web: MockWeb, coding: str, encode: Callable[[bytes], bytes], limit: int | None
) -> None:
    """The bounded decoder gives the same body as httpx's own, for every coding it accepts."""
    if coding == "x-gzip" and limit is None:
        pytest.skip("httpx's own decoders do not know x-gzip")
    body = bytes(range(256)) * 400 + b"\0" * 200_000  # some of it compressible, some not
    url = "http://other.test/compressed"
    web.router.get(url).mock(return_value=_encoded_response(coding, encode(body)))
    got = await fetch_all(DataFetcher(max_body_size=limit), [url])
    assert got[url].body == body


@pytest.mark.parametrize(
    ("coding", "content", "message"),
    [
        ("gzip", b"not gzip at all", "incorrect header check"),
        ("br", b"whatever", "content-encoding 'br' cannot be decoded within max_body_size"),
    ],
)
async def test_undecodable_bodies_are_decoding_errors(
    web: MockWeb, coding: str, content: bytes, message: str
) -> None:
    url = "http://other.test/undecodable"
    web.router.get(url).mock(return_value=_encoded_response(coding, content))
    got = await fetch_all(DataFetcher(max_body_size=MiB), [url])
    error = got[url].error
    assert isinstance(error, httpx.DecodingError) and message in str(error), repr(error)


# -- connections that break ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind", "message"),
    [
        ("/reset", httpx.RemoteProtocolError, "received 10 bytes, expected 1000"),
        ("/abort", httpx.ReadError, None),
    ],
    ids=["closed-mid-body", "tcp-reset-mid-body"],
)
async def test_connection_broken_mid_body_is_a_transport_error_result(
    server: LiveServer,
    leakcheck: LeakChecker,
    path: str,
    kind: type[httpx.TransportError],
    message: str | None,
) -> None:
    """A body cut short (FIN) or a reset connection (RST) is that URL's error; the rest go on.

    Several at once, with good URLs in between, so a broken connection in
    the shared pool cannot take a sibling's request down with it.
    """
    base = baseline(leakcheck)
    broken = [server.url(f"{path}?n={i}") for i in range(3)]
    good = [server.url(f"/ok?size={i + 1}") for i in range(3)]
    got = await fetch_all(DataFetcher(timeout=30), broken + good)
    assert_own_tasks_back(base)
    for url in broken:
        assert isinstance(got[url].error, kind), repr(got[url].error)
        assert message is None or message in str(got[url].error)
    for i, url in enumerate(good):
        assert got[url].body == b"x" * (i + 1)
    assert_server_idle(server)
    await leakcheck.assert_no_leaks_async(base.snapshot, timeout=0)


@pytest.mark.parametrize("max_redirects", [None, 3])
async def test_redirect_loop_is_bounded(
    server: LiveServer, leakcheck: LeakChecker, max_redirects: int | None
) -> None:
    """/loop redirects to itself for ever: TooManyRedirects after a bounded number of hops.

    The server's request counter proves the bound: httpx's default of 20
    redirects (21 requests) with the fetcher's own client, the given
    client's own ``max_redirects`` otherwise.
    """
    base = baseline(leakcheck)
    loop = server.url("/loop")
    if max_redirects is None:
        got = await fetch_all(DataFetcher(), [loop])
        expected_requests = 21
    else:
        async with httpx.AsyncClient(follow_redirects=True, max_redirects=max_redirects) as c:
            got = await fetch_all(DataFetcher(c), [loop])
        expected_requests = max_redirects + 1
    error = got[loop].error
    assert isinstance(error, httpx.TooManyRedirects), repr(error)
    assert server.stats.requests == expected_requests
    assert set(server.stats.paths) == {"/loop"}
    assert_own_tasks_back(base)
    assert_server_idle(server)
    await leakcheck.assert_no_leaks_async(base.snapshot, timeout=0)


# -- URLs that must never become a request --------------------------------------------


def _refused(server: LiveServer) -> dict[str, tuple[type[Exception], str]]:
    """Bad URLs aimed at the live server, with the error and message each must give."""
    port = server.base_url.rsplit(":", 1)[1]
    scheme = "is not an allowed scheme (allowed: http, https)"
    return {
        f"ftp://127.0.0.1:{port}/ok": (httpx.UnsupportedProtocol, f"'ftp' {scheme}"),
        "file:///etc/passwd": (httpx.UnsupportedProtocol, f"'file' {scheme}"),
        f"file://127.0.0.1:{port}/ok": (httpx.UnsupportedProtocol, f"'file' {scheme}"),
        f"ws://127.0.0.1:{port}/ok": (httpx.UnsupportedProtocol, f"'ws' {scheme}"),
        f"127.0.0.1:{port}/ok": (httpx.UnsupportedProtocol, f"no scheme {scheme}"),
        f"//127.0.0.1:{port}/ok": (httpx.UnsupportedProtocol, f"no scheme {scheme}"),
        "": (httpx.InvalidURL, "refusing to fetch '': the URL is empty"),
        "   ": (httpx.InvalidURL, "the URL is empty"),
        "http://": (httpx.InvalidURL, "refusing to fetch 'http://': the URL has no host"),
        "https://": (httpx.InvalidURL, "the URL has no host"),
        "http:///ok": (httpx.InvalidURL, "the URL has no host"),
        f"http://:{port}/ok": (httpx.InvalidURL, "the URL has no host"),
        "http://127.0.0.1:99999/ok": (httpx.InvalidURL, "port 99999 is not in 1-65535"),
        f"http://127.0.0.1:{port}:80/ok": (httpx.InvalidURL, "Invalid port"),
        "http://[::1": (httpx.InvalidURL, "Invalid port"),
    }


@pytest.mark.parametrize("client_kind", ["own", "given", "given-with-base-url"])
async def test_bad_urls_are_results_and_never_requests(
    server: LiveServer, leakcheck: LeakChecker, client_kind: str
) -> None:
    """Unsupported schemes, empty and host-less URLs, impossible ports: refused, not sent.

    The server's counters prove "no request": not one request and not even
    a connection. A client with a ``base_url`` is the sharp case: httpx
    would merge ``""`` or ``"http://"`` into it and fetch the base URL, so
    the fetcher has to refuse them before asking httpx. A relative URL is
    what a ``base_url`` is for, so ``/ok`` is fetched (and is the one
    request the server sees).
    """
    base = baseline(leakcheck)
    refused = _refused(server)
    if client_kind == "given-with-base-url":
        # Scheme-less references are relative: resolving them is base_url's job.
        refused = {u: e for u, e in refused.items() if "no scheme" not in e[1]}
    connections_before = server.stats.connections_total
    client = None
    if client_kind == "given":
        client = httpx.AsyncClient()
    elif client_kind == "given-with-base-url":
        client = httpx.AsyncClient(base_url=server.base_url)
    urls = list(refused) * 2  # duplicates: each occurrence its own Result
    try:
        async with DataFetcher(client, max_concurrency=4).fetch(urls) as results:
            got = [r async for r in results]
        if client is not None and client_kind == "given-with-base-url":
            relative = await fetch_all(DataFetcher(client), ["/ok"])
            assert relative["/ok"].body == b"ok"
    finally:
        if client is not None:
            await client.aclose()
    assert collections.Counter(r.url for r in got) == collections.Counter(urls)
    for r in got:
        kind, message = refused[r.url]
        assert type(r.error) is kind and message in str(r.error), (r.url, r.error)
        assert r.body is None
    expected_paths = ["/ok"] if client_kind == "given-with-base-url" else []
    assert server.stats.paths == expected_paths
    assert server.stats.connections_total - connections_before == len(expected_paths)
    assert_own_tasks_back(base)
    assert_server_idle(server)
    await leakcheck.assert_no_leaks_async(base.snapshot, timeout=0)


# -- 10,000 URLs ------------------------------------------------------------------------


def _mixed_web(web: MockWeb, rng: random.Random) -> dict[str, type[Exception] | None]:
    """About 400 distinct URLs of every outcome, each with the error type it must give."""
    outcomes: dict[str, type[Exception] | None] = {}
    for _ in range(250):
        outcomes[web.url("ok", delay=rng.choice([0.0, 0.0, 0.0005]))] = None
    for status in (301, 404, 500, 503):
        for _ in range(25):
            outcomes[web.url(f"s{status}", status=status)] = httpx.HTTPStatusError
    for fail in (httpx.ConnectError, httpx.ReadError, httpx.ReadTimeout):
        for _ in range(15):
            outcomes[web.url(fail.__name__, fail=fail)] = fail
    for i in range(10):
        outcomes[f"ftp://mock.test/f{i}"] = httpx.UnsupportedProtocol
        outcomes[f"file:///tmp/f{i}"] = httpx.UnsupportedProtocol
    outcomes[""] = httpx.InvalidURL
    outcomes["http://"] = httpx.InvalidURL
    outcomes["http://[::1"] = httpx.InvalidURL
    return outcomes


@pytest.mark.parametrize(
    ("bound", "count"), [(64, 10_000), (None, 2_000)], ids=["bounded-64", "unbounded"]
)
async def test_ten_thousand_urls_nothing_lost(
    web: MockWeb, leakcheck: LeakChecker, bound: int | None, count: int
) -> None:
    """10,000 URLs, heavy duplication, every kind of failure: one correct Result each.

    The multiset of Result URLs equals the input's, each Result has the
    outcome its URL must give, every fetchable occurrence was requested
    exactly once (refused ones never), and at the instant the block is left
    nothing is running. With a bound, the live fetcher tasks (sampled every
    50 results) never exceed the workers plus the producer: O(bound), not
    O(N). Unbounded (one worker per URL) runs a smaller N to stay fast.
    """
    rng = random.Random(17)
    outcomes = _mixed_web(web, rng)
    distinct = list(outcomes)
    urls = [rng.choice(distinct) for _ in range(count)]
    base = baseline(leakcheck)
    got: list[Result] = []
    most_tasks = 0
    async with DataFetcher(max_concurrency=bound).fetch(urls) as results:
        async for r in results:
            got.append(r)
            if bound is not None and len(got) % 50 == 0:
                most_tasks = max(most_tasks, len(fetcher_tasks()))
    await assert_back_to_baseline(leakcheck, base)
    assert web.in_flight == 0
    assert len(got) == len(urls)
    assert collections.Counter(r.url for r in got) == collections.Counter(urls)
    for r in got:
        expected = outcomes[r.url]
        if expected is None:
            assert r.body == b"ok" and r.error is None, r
        else:
            assert type(r.error) is expected and r.body is None, r
    fetchable = [u for u in urls if u.startswith("http://mock.test/")]
    assert collections.Counter(web.requested) == collections.Counter(fetchable)
    if bound is not None:
        assert web.peak <= bound
        assert 0 < most_tasks <= bound + 1


@pytest.mark.parametrize(("limit", "ok"), [(None, True), (100, True), (3, False)])
async def test_body_already_read_by_a_response_hook(
    web: MockWeb, limit: int | None, ok: bool
) -> None:
    """A given client whose response hook reads the body: the limit still applies, nothing breaks.

    The bounded reader streams the raw body itself; a body that was read
    already cannot be streamed again, so its size is checked as it is.
    """

    async def read_it(response: httpx.Response) -> None:
        await response.aread()

    url = web.url(body=b"hello")
    async with httpx.AsyncClient(event_hooks={"response": [read_it]}) as client:
        got = await fetch_all(DataFetcher(client, max_body_size=limit), [url])
    if ok:
        assert got[url].body == b"hello"
    else:
        assert isinstance(got[url].error, BodyTooLargeError), repr(got[url].error)
