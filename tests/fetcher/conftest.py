"""Fixtures for the fetcher tests: both anyio backends, the fake web, the real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from .mocks import MockWeb
from .server import LiveServer


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async fetcher test runs on both anyio backends."""
    return str(request.param)


@pytest.fixture
def web() -> Iterator[MockWeb]:
    """The respx fake web, active for the test (mocks every httpx client)."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield MockWeb(router)


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    """A real uvicorn server on 127.0.0.1, shared by a module, joined at teardown."""
    with LiveServer() as server:
        yield server


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    """The live server, idle (no connection, no request) when the test starts."""
    assert live_server.stats.wait_idle(), "a previous test left connections open"
    live_server.stats.reset_peak()
    return live_server
