"""A mocked web for the criteria: per-URL delay, status or transport failure.

respx patches httpx's transport globally, so every request is caught however
the submission makes it (its own client included). Each response is produced
by an async side effect whose delay is a real, cancellable ``anyio.sleep`` (so
it works on trio as well as asyncio), and which counts requests in flight:
incremented on entry, decremented in ``finally``, so a cancelled request stops
counting exactly when its cancellation is delivered.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from types import TracebackType

import anyio
import httpx
import respx

BASE = "https://kata.test"


@dataclass(frozen=True)
class Page:
    """How one URL behaves."""

    delay: float = 0.0
    status: int = 200
    failure: type[httpx.TransportError] | None = None


def body_of(url: str) -> bytes:
    """The body a 2xx URL serves: distinct per URL, so a swapped body is caught."""
    return f"body of {url}".encode()


class MockWeb:
    """The routes of one scenario and what was observed while serving them."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.in_flight = 0
        self.peak = 0
        self.started = 0
        self.in_flight_by_url: Counter[str] = Counter()
        self._router: respx.MockRouter | None = None
        self._hold: tuple[int, float] | None = None
        self._reached: anyio.Event | None = None

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
        router = respx.mock(assert_all_called=False, assert_all_mocked=True)
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

    async def _serve(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        page = self.pages.get(url, Page(status=404))
        self.in_flight += 1
        self.started += 1
        self.in_flight_by_url[url] += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self._hold is not None:
                await self._wait_for_company(*self._hold)
            if page.delay:
                await anyio.sleep(page.delay)
            if page.failure is not None:
                raise page.failure(f"mocked {page.failure.__name__} for {url}", request=request)
            body = body_of(url) if 200 <= page.status < 300 else b"mocked error page"
            return httpx.Response(page.status, content=body)
        finally:
            self.in_flight -= 1
            self.in_flight_by_url[url] -= 1

    async def _wait_for_company(self, count: int, timeout: float) -> None:
        if self._reached is None:
            self._reached = anyio.Event()
        if self.in_flight >= count:
            self._reached.set()
        with anyio.move_on_after(timeout) as waited:
            await self._reached.wait()
        if waited.cancelled_caught:
            self._hold = None  # never reached: do not make every later request wait too
