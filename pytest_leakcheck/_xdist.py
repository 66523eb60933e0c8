"""pytest-xdist: every worker checks its own tests; the controller sums up.

Under ``pytest -n N --leakcheck`` each worker is a full pytest session with
its own :class:`~pytest_leakcheck._session.LeakcheckSession`, so a leak fails
its test there and the failure travels to the controller like any other
report. What does not travel is the session summary: a worker has no
terminal. So each worker puts its counts, findings and end-of-session
stragglers in ``config.workeroutput`` when its session finishes, and the
controller merges them as each node goes down (``pytest_testnodedown``) and
prints one ``leakcheck`` section, and writes one ``--leakcheck-report``.

The controller runs no test: its own threads (execnet's) are not stragglers,
so it reports only what the workers found.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ._session import LeakcheckSession

__all__ = ["attach", "is_worker"]

_KEY = "leakcheck"


class _WorkerSide:
    """Ships this worker's summary to the controller."""

    def __init__(self, config: pytest.Config, session: LeakcheckSession) -> None:
        self.config = config
        self.session = session
        # the controller writes the one report file for the whole run
        session.settings = replace(session.settings, report_path=None)

    def pytest_sessionfinish(self) -> None:
        summary = self.session.final_summary()
        self.config.workeroutput[_KEY] = summary.to_dict()  # type: ignore[attr-defined]


class _ControllerSide:
    """Merges every worker's summary into the controller's session."""

    def __init__(self, session: LeakcheckSession) -> None:
        self.session = session
        session.remote = True

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        data = getattr(node, "workeroutput", {}).get(_KEY)
        if not isinstance(data, dict):  # a crashed worker sends nothing
            return
        worker = str((getattr(node, "gateway", None) and node.gateway.id) or "worker")
        self.session.summary.merge(data, worker)


def is_worker(config: pytest.Config) -> bool:
    """An xdist worker: it writes no report (its controller does)."""
    return hasattr(config, "workerinput")


def attach(config: pytest.Config, session: LeakcheckSession) -> None:
    """Register the worker or controller half, if this is an xdist run."""
    if is_worker(config):
        config.pluginmanager.register(_WorkerSide(config, session), "leakcheck-xdist-worker")
    elif config.pluginmanager.hasplugin("xdist") and getattr(config.option, "dist", "no") != "no":
        config.pluginmanager.register(_ControllerSide(session), "leakcheck-xdist-controller")
