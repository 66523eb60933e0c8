"""The pytest plugin: options, ini keys, the marker and the ``leakcheck`` fixture.

Loaded through the ``pytest11`` entry point, it changes nothing until leak
checking is turned on (``--leakcheck`` or ini ``leakcheck = true``); then it
registers a :class:`~pytest_leakcheck._session.LeakcheckSession`, which does
the per-test work through the library API.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from . import _nested, _xdist
from ._api import LeakChecker
from ._options import DEFAULT_TIMEOUT, Options
from ._provenance import PROVENANCE
from ._session import LeakcheckSession
from ._settings import MODES, MarkerError, item_settings, read_settings

__all__ = ["leakcheck"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("leakcheck", "leak checking of threads and asyncio tasks")
    group.addoption(
        "--leakcheck",
        action="store_true",
        default=None,
        help="fail each test that leaves threads or asyncio tasks running.",
    )
    group.addoption(
        "--leakcheck-timeout",
        metavar="SECONDS",
        default=None,
        help=f"grace period for stragglers to exit (default {DEFAULT_TIMEOUT}).",
    )
    group.addoption(
        "--leakcheck-mode",
        metavar="|".join(MODES),
        default=None,
        help="fail: fail the leaking test (default); warn: emit a LeakWarning.",
    )
    group.addoption(
        "--leakcheck-report",
        metavar="FILE.json",
        default=None,
        help="write every leak found (test, kind, name, stacks) to a JSON file.",
    )
    parser.addini("leakcheck", type="bool", default=False, help="turn leak checking on.")
    parser.addini(
        "leakcheck_timeout",
        default=str(DEFAULT_TIMEOUT),
        help="grace period in seconds for stragglers to exit.",
    )
    parser.addini("leakcheck_mode", default="fail", help="fail (default) or warn.")
    parser.addini(
        "leakcheck_ignore",
        type="linelist",
        default=[],
        help="globs of thread/task names or functions to ignore (name:, target:, top:, "
        "any:, origin: prefixes narrow a pattern).",
    )
    parser.addini(
        "leakcheck_strict_pools",
        type="bool",
        default=False,
        help="count idle thread-pool workers as leaks too.",
    )
    parser.addini(
        "leakcheck_origins",
        type="bool",
        default=True,
        help="record where each thread/task was started (small cost per start).",
    )
    parser.addini(
        "leakcheck_native",
        type="bool",
        default=True,
        help="also compare OS threads (Linux /proc) to catch threads Python does not list.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "leakcheck(ignore=(), timeout=None, enabled=True): per-test leak-check settings: "
        "extra ignore patterns, another grace period, or enabled=False to skip the check.",
    )
    _nested.attach(config)
    settings = read_settings(config, check_report_path=not _xdist.is_worker(config))
    if not settings.enabled:
        return
    session = LeakcheckSession(config, settings)
    config.pluginmanager.register(session, LeakcheckSession.NAME)
    _xdist.attach(config, session)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.pluginmanager.get_plugin(LeakcheckSession.NAME)
    if session is not None:
        config.pluginmanager.unregister(session)
        session.close()


@pytest.fixture
def leakcheck(request: pytest.FixtureRequest) -> Iterator[LeakChecker]:
    """Assert mid-test that threads and tasks are back to the baseline.

    The baseline is taken when the fixture is set up. ``assert_no_leaks()``
    (sync) and ``await assert_no_leaks_async()`` (lets the loop run during the
    grace) use the same options and blame rules as the after-test check;
    ``timeout=0`` means "at this very instant".
    """
    session = request.config.pluginmanager.get_plugin(LeakcheckSession.NAME)
    options = Options()
    if session is not None:
        options = session.settings.options
        with contextlib.suppress(MarkerError):  # the session fails the setup with it, once
            _, options = item_settings(request.node, options)
    yield LeakChecker(options=options, owner=PROVENANCE.owner)
