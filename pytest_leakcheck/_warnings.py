"""Warning categories, so ``-W error::...`` and ``filterwarnings`` work as usual."""

from __future__ import annotations

import pytest

__all__ = ["LeakWarning", "LeakcheckInternalWarning"]


class LeakWarning(pytest.PytestWarning):
    """A test left threads or tasks behind (``--leakcheck-mode=warn``)."""


class LeakcheckInternalWarning(pytest.PytestWarning):
    """pytest-leakcheck itself failed while checking a test; the test's verdict stands."""
