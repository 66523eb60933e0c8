"""Warning categories, so ``-W error::...`` and ``filterwarnings`` work as usual."""

from __future__ import annotations

__all__ = ["LeakWarning", "LeakcheckInternalWarning"]


class LeakWarning(UserWarning):
    """A test left threads or tasks behind (``--leakcheck-mode=warn``)."""


class LeakcheckInternalWarning(UserWarning):
    """pytest-leakcheck itself failed while checking a test; the test's verdict stands."""
