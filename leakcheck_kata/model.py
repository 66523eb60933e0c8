"""The grader's data: what a criterion is and what grading it found.

Kept free of heavy imports so the CLI, the report and the pytest plugin can
use it without importing httpx, respx or the submission.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Criterion:
    """One public criterion of kata 17 (the table in issue 4)."""

    id: str
    name: str
    pass_iff: str
    time_limit: float
    """Hard limit in seconds for the criterion's own process."""


@dataclass
class Verdict:
    """What grading one criterion found; serialised as JSON between processes."""

    id: str
    name: str
    passed: bool
    reason: str
    seconds: float = 0.0
    evidence: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """PASS or FAIL, as printed."""
        return "PASS" if self.passed else "FAIL"

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json`` and for the worker's result file."""
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["verdict"] = self.label
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        """Inverse of :meth:`to_json` (ignores the derived ``verdict`` key)."""
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            passed=bool(data["passed"]),
            reason=str(data["reason"]),
            seconds=float(data.get("seconds", 0.0)),
            evidence=str(data.get("evidence", "")),
            notes=[str(n) for n in data.get("notes", [])],
        )


@dataclass
class Grade:
    """The whole grading of one submission on one backend."""

    target: str
    backend: str
    verdicts: list[Verdict]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True iff every graded criterion passed (the CLI's exit status)."""
        return all(v.passed for v in self.verdicts)

    def vector(self) -> dict[str, str]:
        """``{"C1": "PASS", ...}``: the form corpus files declare as EXPECTED."""
        return {v.id: v.label for v in self.verdicts}

    def to_json(self) -> dict[str, Any]:
        """Machine-readable report for CI and course tooling."""
        return {
            "target": self.target,
            "backend": self.backend,
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "criteria": [v.to_json() for v in self.verdicts],
        }


class SubmissionError(Exception):
    """The submission cannot be graded at all; the message is one line for the user."""
