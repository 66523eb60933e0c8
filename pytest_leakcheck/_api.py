"""The library API for code without pytest: assertions and a context manager.

``no_leaks()`` works as ``with`` and as ``async with``: the async flavour lets
the event loop run during the grace period, which is what lets a cancelled
task finish before it is judged.
"""

from __future__ import annotations

from types import TracebackType

from ._options import Options
from ._report import format_leaks
from ._snapshot import Snapshot, snapshot
from ._values import Leak, Owner
from ._verdict import find_leaks, find_leaks_async

__all__ = ["LeakChecker", "LeakError", "assert_no_leaks", "assert_no_leaks_async", "no_leaks"]


class LeakError(AssertionError):
    """Raised when threads or tasks outlived the code that started them.

    An AssertionError, so test runners report it as a failure, not an error.
    ``leaks`` holds the :class:`Leak` values for programmatic use.
    """

    def __init__(self, leaks: list[Leak], who: str = "") -> None:
        self.leaks = leaks
        super().__init__(format_leaks(leaks, who=who))


def assert_no_leaks(
    since: Snapshot, *, timeout: float | None = None, options: Options | None = None
) -> None:
    """Raise :class:`LeakError` if anything started since *since* is alive."""
    leaks = find_leaks(since, timeout=timeout, options=options)
    if leaks:
        raise LeakError(leaks)


async def assert_no_leaks_async(
    since: Snapshot, *, timeout: float | None = None, options: Options | None = None
) -> None:
    """:func:`assert_no_leaks`, letting the event loop run during grace."""
    leaks = await find_leaks_async(since, timeout=timeout, options=options)
    if leaks:
        raise LeakError(leaks)


class no_leaks:
    """``with no_leaks():`` / ``async with no_leaks():`` — fail on stragglers.

    The block's own exception wins: a failing block is not also judged for
    leaks (its cleanup may not have run), so the real error is not hidden.
    """

    def __init__(self, *, timeout: float | None = None, options: Options | None = None) -> None:
        self._timeout = timeout
        self._options = options
        self._before: Snapshot | None = None

    def _enter(self) -> no_leaks:
        self._before = snapshot()
        return self

    def __enter__(self) -> no_leaks:
        return self._enter()

    async def __aenter__(self) -> no_leaks:
        return self._enter()

    def _since(self) -> Snapshot:
        if self._before is None:
            raise RuntimeError("no_leaks() was exited without being entered")
        return self._before

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            assert_no_leaks(self._since(), timeout=self._timeout, options=self._options)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await assert_no_leaks_async(self._since(), timeout=self._timeout, options=self._options)


class LeakChecker:
    """A baseline plus the checks against it: what the ``leakcheck`` fixture is.

    Lets a test assert mid-way ("after cancelling, we are back to baseline
    now"), with the same options and blame rules as the after-test check.
    """

    def __init__(self, *, options: Options | None = None, owner: Owner | None = None) -> None:
        self.options = options if options is not None else Options()
        self.owner = owner
        self.baseline = snapshot()

    def snapshot(self) -> Snapshot:
        """A new baseline to pass as ``since=``."""
        return snapshot()

    def find_leaks(
        self, since: Snapshot | None = None, *, timeout: float | None = None
    ) -> list[Leak]:
        return find_leaks(
            since or self.baseline, timeout=timeout, options=self.options, owner=self.owner
        )

    async def find_leaks_async(
        self, since: Snapshot | None = None, *, timeout: float | None = None
    ) -> list[Leak]:
        return await find_leaks_async(
            since or self.baseline, timeout=timeout, options=self.options, owner=self.owner
        )

    def assert_no_leaks(
        self, since: Snapshot | None = None, *, timeout: float | None = None
    ) -> None:
        """Raise :class:`LeakError` unless everything since the baseline is gone."""
        leaks = self.find_leaks(since, timeout=timeout)
        if leaks:
            raise LeakError(leaks)

    async def assert_no_leaks_async(
        self, since: Snapshot | None = None, *, timeout: float | None = None
    ) -> None:
        leaks = await self.find_leaks_async(since, timeout=timeout)
        if leaks:
            raise LeakError(leaks)
