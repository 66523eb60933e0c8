"""A mocked web for the criteria: per-URL delay, status or transport failure.

respx patches httpx's transports globally, so every request is caught however
the submission makes it: its own client, and a synchronous ``httpx.Client`` as
well as an ``AsyncClient``. An async request's delay is a real, cancellable
``anyio.sleep`` (so it works on trio as well as asyncio); a sync request sleeps
in the thread that made it, as a real blocking request would. Both count
requests in flight the same way: incremented on entry, decremented in
``finally``, so a cancelled request stops counting exactly when its
cancellation is delivered, and a sync one when its thread is done with it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import httpx
import respx
from respx.mocks import HTTPCoreMocker

BASE = "https://kata.test"
POLL = 0.005
"""How often an async request held by :meth:`MockWeb.hold_until` looks again."""
SETTLE = 0.02
"""After its response, time for a producer to reach its send (see :meth:`MockWeb.served`)."""


@dataclass(frozen=True)
class Page:
    """How one URL behaves."""

    delay: float = 0.0
    status: int = 200
    failure: type[httpx.TransportError] | None = None


def body_of(url: str) -> bytes:
    """The body a 2xx URL serves: distinct per URL, so a swapped body is caught."""
    return f"body of {url}".encode()


_SYNC = threading.local()
"""``_SYNC.active`` is True while this thread is inside a synchronous request."""


class _Mocker(HTTPCoreMocker):
    """respx's httpcore mocker, telling the side effect which transport called it.

    respx hands one side effect both kinds of request; an async one may await,
    a sync one must return a Response. The sync entry point marks its thread.
    """

    name = "kata-grader"

    @classmethod
    def handler(cls, httpx_request: httpx.Request) -> httpx.Response:
        _SYNC.active = True
        try:
            response: httpx.Response = super().handler(httpx_request)  # type: ignore[no-untyped-call]
        finally:
            _SYNC.active = False
        return response


class MockWeb:
    """The routes of one scenario and what was observed while serving them."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.in_flight = 0
        self.peak = 0
        self.started = 0
        self.in_flight_by_url: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self._lock = threading.Lock()  # sync requests count from their own threads
        self._router: respx.MockRouter | None = None
        self._hold: tuple[int, float] | None = None
        self._reached = threading.Event()

    def hold_until(self, count: int, timeout: float) -> None:
        """Hold each request (before its delay) until *count* are in flight at once.

        So "the bound was reached" does not depend on how fast the machine starts
        the fetches: a bounded fetcher reaches its bound however slowly it runs,
        and only one that never reaches it waits the *timeout* out.
        """
        self._hold = (count, timeout)

    def add(
        self,
        name: str,
        *,
        delay: float = 0.0,
        status: int = 200,
        failure: type[httpx.TransportError] | None = None,
    ) -> str:
        """Register a page and return its URL."""
        url = f"{BASE}/{name}"
        self.pages[url] = Page(delay, status, failure)
        return url

    def __enter__(self) -> MockWeb:
        router = respx.mock(assert_all_called=False, assert_all_mocked=True, using=_Mocker.name)
        router.route().mock(side_effect=self._serve)
        router.__enter__()
        self._router = router
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._router is not None:
            self._router.__exit__(kind, exc, tb)
            self._router = None

    def _serve(
        self, request: httpx.Request
    ) -> httpx.Response | Coroutine[Any, Any, httpx.Response]:
        """respx's side effect: a Response now (sync) or a coroutine making one (async)."""
        if getattr(_SYNC, "active", False):
            return self._serve_sync(request)
        return self._serve_async(request)

    @contextmanager
    def _serving(self, url: str) -> Iterator[None]:
        with self._lock:
            self.in_flight += 1
            self.started += 1
            self.in_flight_by_url[url] += 1
            self.peak = max(self.peak, self.in_flight)
            if self._hold is not None and self.in_flight >= self._hold[0]:
                self._reached.set()
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1
                self.in_flight_by_url[url] -= 1
                self.finished[url] += 1

    async def served(self, urls: list[str] | None = None, limit: float = 1.0) -> None:
        """Wait until every one of *urls* was answered (None: nothing is in flight), and a moment.

        At most *limit* s. The moment lets a producer that got its response reach
        its send: then it is blocked on a send nobody receives, the state the
        cancellation criteria need.
        """
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if urls is None and self.in_flight == 0:
                break
            if urls is not None and all(self.finished[u] for u in urls):
                break
            await anyio.sleep(POLL)
        await anyio.sleep(SETTLE)

    def _respond(self, request: httpx.Request, page: Page) -> httpx.Response:
        url = str(request.url)
        if page.failure is not None:
            raise page.failure(f"mocked {page.failure.__name__} for {url}", request=request)
        body = body_of(url) if 200 <= page.status < 300 else b"mocked error page"
        return httpx.Response(page.status, content=body)

    async def _serve_async(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        page = self.pages.get(url, Page(status=404))
        with self._serving(url):
            if self._hold is not None:
                await self._wait_for_company(self._hold[1])
            if page.delay:
                await anyio.sleep(page.delay)
            return self._respond(request, page)

    def _serve_sync(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        page = self.pages.get(url, Page(status=404))
        with self._serving(url):
            if self._hold is not None:
                self._held(self._reached.wait(self._hold[1]))
            if page.delay:
                time.sleep(page.delay)
            return self._respond(request, page)

    async def _wait_for_company(self, timeout: float) -> None:
        # Polled, not awaited on a thread: a sync request in another thread may set it.
        deadline = time.monotonic() + timeout
        while not self._reached.is_set() and time.monotonic() < deadline:
            await anyio.sleep(POLL)
        self._held(self._reached.is_set())

    def _held(self, reached: bool) -> None:
        if not reached:
            self._hold = None  # never reached: do not make every later request wait too
