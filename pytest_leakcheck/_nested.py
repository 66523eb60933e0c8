"""A pytest session run inside a checked test (pytester's inline and in-process runs).

The inner session's tests answer for what they leave (their own checks, when
the inner run checks too); the outer test answers only for what is still
alive once the inner session has ended. So everything started during the
inner session is owned by it, and what survives it is handed to the outer
test when it ends; what died inside it (a task its event-loop runner reaped)
is never the outer test's.
"""

from __future__ import annotations

import pytest

from ._provenance import PROVENANCE
from ._values import Owner

__all__ = ["NestedSession", "attach"]


class NestedSession:
    NAME = "leakcheck-nested-session"

    def __init__(self, outer: Owner) -> None:
        self.owner = Owner("session", f"the pytest session run inside {outer.describe()}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self) -> None:
        PROVENANCE.begin_nested(self.owner)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        PROVENANCE.end_nested(self.owner)


def attach(config: pytest.Config) -> None:
    """Register the nested-session handling if *config* is a session inside a test."""
    outer = PROVENANCE.owner
    if outer is not None and PROVENANCE.owner_thread_is_current():
        config.pluginmanager.register(NestedSession(outer), NestedSession.NAME)
