"""A respx-backed fake web whose URLs are slow, failing or blocked on demand.

Each URL is registered with a behaviour (delay, status, transport failure,
wait on a gate). The side effect is async, so a delay is a real cancellable
sleep in the fetcher's worker task, exactly where a network wait would be.
The fake web counts requests in flight (decremented in ``finally``, so a
cancelled request is counted out only once its cleanup actually ran), their
peak, and how many were cancelled; tests wait on these counts through
events, never by sleeping.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import respx

__all__ = ["DEADLINE", "WAIT", "Behaviour", "MockWeb", "iter_once"]

HOST = "mock.test"
WAIT = 10.0
"""Bound on any wait for a condition: generous, it only matters when a test fails."""
DEADLINE = 2.0
"""The fetcher's per-request timeout where a URL that must time out shares a block with
URLs that must not: long enough that a loaded machine never makes those time out too
(a few ms of work each, on loopback or in process), short enough to wait for."""


@dataclass(frozen=True)
class Behaviour:
    delay: float = 0.0
    status: int = 200
    body: bytes = b"ok"
    fail: type[httpx.TransportError] | None = None
    gated: bool = False  # wait until MockWeb.open_gate()


class MockWeb:
    """The fake web; see the module docstring."""

    def __init__(self, router: respx.MockRouter) -> None:
        self._ids = itertools.count()
        self._behaviours: dict[str, Behaviour] = {}
        self.in_flight = 0
        self.peak = 0
        self.started = 0
        self.cancelled = 0
        self.requested: list[str] = []
        # Events are made on first use: they belong to the test's event loop,
        # which does not exist yet when a sync fixture builds the fake web.
        self._gate_event: anyio.Event | None = None
        self._changed_event: anyio.Event | None = None
        self.router = router  # for ad-hoc routes on other hosts
        router.route(host=HOST).mock(side_effect=self._handle)

    def url(self, name: str | None = None, **behaviour: Any) -> str:
        path = f"/{name or 'u'}-{next(self._ids)}"
        self._behaviours[path] = Behaviour(**behaviour)
        return f"http://{HOST}{path}"

    def urls(self, count: int, **behaviour: Any) -> list[str]:
        return [self.url(**behaviour) for _ in range(count)]

    @property
    def _gate(self) -> anyio.Event:
        if self._gate_event is None:
            self._gate_event = anyio.Event()
        return self._gate_event

    @property
    def _changed(self) -> anyio.Event:
        if self._changed_event is None:
            self._changed_event = anyio.Event()
        return self._changed_event

    def open_gate(self) -> None:
        self._gate.set()

    async def wait_until(self, predicate: Callable[[MockWeb], bool], what: str) -> None:
        """Wait until *predicate(self)* holds, re-checking on every change (bounded)."""
        try:
            with anyio.fail_after(WAIT):
                while not predicate(self):
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"waited {WAIT} s for {what}; in flight {self.in_flight}, started {self.started}"
            ) from None

    async def wait_in_flight(self, count: int) -> None:
        await self.wait_until(lambda w: w.in_flight >= count, f"{count} requests in flight")

    def _notify(self) -> None:
        if self._changed_event is not None:
            self._changed_event.set()
            self._changed_event = None

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        b = self._behaviours[request.url.path]
        self.requested.append(str(request.url))
        self.started += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self._notify()
        try:
            if b.gated:
                await self._gate.wait()
            if b.delay:
                await anyio.sleep(b.delay)
            else:
                await anyio.lowlevel.checkpoint()
            if b.fail is not None:
                raise b.fail("mock transport failure", request=request)
            return httpx.Response(b.status, content=b.body)
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
            self._notify()


def iter_once(urls: list[str]) -> Iterator[str]:
    """A one-shot generator over *urls* (the input shape that cannot be re-read)."""
    yield from urls
