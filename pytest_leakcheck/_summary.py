"""The session's summary as a value: counts, findings, what is still alive at the end.

The pytest session fills one in, renders it as the terminal's ``leakcheck``
section and the ``--leakcheck-report`` JSON; under pytest-xdist each worker
ships its own as a dict and the controller merges them. Rendering and
merging live here, so no module needs another's internals.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ._report import summarize_kinds
from ._values import Leak

__all__ = ["Line", "Summary"]

#: One terminal line and its markup (``red=True``, ``yellow=True``, ...).
Line = tuple[str, dict[str, bool]]


@dataclass
class Summary:
    checked: int = 0
    #: (who, counts by kind) per leaking test or fixture, in the order found
    leaky: list[tuple[str, Counter[str]]] = field(default_factory=list)
    #: every leak found, as JSON-ready dicts tagged with the test (and worker)
    findings: list[dict[str, Any]] = field(default_factory=list)
    alive: list[Leak] = field(default_factory=list)

    def record(self, who: str, leaks: list[Leak]) -> None:
        self.leaky.append((who, Counter(leak.kind for leak in leaks)))
        self.findings.extend({"test": who, **leak.to_dict()} for leak in leaks)

    # -- shipping (xdist) --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "leaky": [[who, dict(counts)] for who, counts in self.leaky],
            "findings": self.findings,
            "alive": [leak.to_dict() for leak in self.alive],
        }

    def merge(self, data: dict[str, Any], worker: str) -> None:
        """Add a worker's :meth:`to_dict`; its findings and stragglers are tagged *worker*."""
        self.checked += int(data.get("checked", 0))
        self.leaky.extend((str(who), Counter(counts)) for who, counts in data.get("leaky", []))
        self.findings.extend({**f, "worker": worker} for f in data.get("findings", []))
        self.alive.extend(Leak.from_dict(d, worker) for d in data.get("alive", []))

    # -- rendering ----------------------------------------------------------------

    def lines(self) -> list[Line]:
        """The terminal section's lines."""
        kinds: Counter[str] = Counter()
        for _, counts in self.leaky:
            kinds.update(counts)
        leaky_tests = len({who for who, _ in self.leaky})
        by_kind = ", ".join(f"{n} {k}(s)" for k, n in sorted(kinds.items())) or "none"
        head = f"{self.checked} test(s) checked; {leaky_tests} left stragglers"
        out: list[Line] = [(f"{head} (leaked: {by_kind})", {})]
        for who, counts in self.leaky:
            each = ", ".join(f"{n} {k}(s)" for k, n in sorted(counts.items()))
            out.append((f"  {who}: {each}", {}))
        if self.alive:
            out.append((f"still alive at session end: {summarize_kinds(self.alive)}", {}))
            for leak in self.alive[:20]:
                text = f"  {leak.kind} {leak.name!r} ({leak.identity}) runs {leak.target}"
                out.append((text, {}))
            blocking = [leak for leak in self.alive if leak.blocks_exit]
            if blocking:
                out.append(
                    (
                        f"WARNING: {len(blocking)} non-daemon thread(s) still running: "
                        "the interpreter will wait for them before it exits",
                        {"yellow": True, "bold": True},
                    )
                )
        return out

    def write_json(self, path: str) -> None:
        data = {
            "tests_checked": self.checked,
            "leaks": self.findings,
            "alive_at_session_end": [leak.to_dict() for leak in self.alive],
        }
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
