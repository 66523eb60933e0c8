"""Render a grading: the table, then the evidence of each failure; or JSON.

The table answers "which criteria, and why" at a glance; the evidence under it
is what a person needs to fix the failure (the leak report with stacks and
start sites, the stray exception's traceback, the measured figure).
"""

from __future__ import annotations

import json
import textwrap

from .model import Grade

WIDTH = 100


def render_text(grade: Grade) -> str:
    """The human report."""
    rows = [(v.id, v.name, v.label, f"{v.seconds:5.2f}s", v.reason) for v in grade.verdicts]
    name_w = max([len("criterion")] + [len(r[1]) for r in rows])
    lines = [f"kata 17 grader: {grade.target} on {grade.backend}", ""]
    lines.append(f"{'id':<3} {'criterion':<{name_w}}  {'':4}  {'time':>6}  reason")
    lines.append("-" * WIDTH)
    indent = " " * (3 + 1 + name_w + 2 + 4 + 2 + 6 + 2)
    for cid, name, label, took, reason in rows:
        wrapped = textwrap.wrap(reason, WIDTH - len(indent)) or [""]
        lines.append(f"{cid:<3} {name:<{name_w}}  {label:4}  {took:>6}  {wrapped[0]}")
        lines.extend(indent + more for more in wrapped[1:])
    lines.append("-" * WIDTH)
    passed = sum(v.passed for v in grade.verdicts)
    verdict = "PASS" if grade.passed else "FAIL"
    lines.append(
        f"{verdict}: {passed}/{len(grade.verdicts)} criteria passed in {grade.seconds:.1f} s"
    )
    seen: set[str] = set()
    for v in grade.verdicts:  # the trio note repeats in every criterion that cancels: once
        for note in v.notes:
            if note not in seen:
                seen.add(note)
                lines.append(f"note ({v.id}): {note}")
    for v in grade.verdicts:
        if v.passed:
            continue
        lines += ["", f"=== {v.id} {v.name}: FAIL", f"reason: {v.reason}"]
        if v.evidence:
            lines += ["evidence:", textwrap.indent(v.evidence.rstrip(), "  ")]
    return "\n".join(lines)


def render_json(grade: Grade) -> str:
    """The same content as data, for CI and course tooling."""
    return json.dumps(grade.to_json(), indent=2)
