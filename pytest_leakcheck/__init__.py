"""pytest-leakcheck: fail the test that leaves a thread or an asyncio task behind.

The detection is a plain library (no pytest needed)::

    before = snapshot()
    ...                                  # code that must clean up after itself
    assert_no_leaks(before)              # or: find_leaks(before) -> list[Leak]

    with no_leaks(): ...                 # or: async with no_leaks(): ...

The pytest plugin (``pytest --leakcheck``) is thin wiring over it.
"""

from importlib.metadata import PackageNotFoundError, version

from ._api import LeakChecker, LeakError, assert_no_leaks, assert_no_leaks_async, no_leaks
from ._frames import FrameRecord
from ._options import DEFAULT_TIMEOUT, IgnoreRule, Options, parse_ignore
from ._report import format_leaks
from ._snapshot import Snapshot, snapshot
from ._values import Leak, Origin, Owner
from ._verdict import find_leaks, find_leaks_async
from ._warnings import LeakcheckInternalWarning, LeakWarning

try:
    __version__ = version("pytest-leakcheck")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_TIMEOUT",
    "FrameRecord",
    "IgnoreRule",
    "Leak",
    "LeakChecker",
    "LeakError",
    "LeakWarning",
    "LeakcheckInternalWarning",
    "Options",
    "Origin",
    "Owner",
    "Snapshot",
    "__version__",
    "assert_no_leaks",
    "assert_no_leaks_async",
    "find_leaks",
    "find_leaks_async",
    "format_leaks",
    "no_leaks",
    "parse_ignore",
    "snapshot",
]
