"""Leak reports a person can act on, and that stay short when there are many.

Each straggler shows what it is, what it runs, where it is stuck now and
where it was started. Stragglers with the same kind, target and current
stack are one group: a thousand leaked copies of one task print as one entry
with a count, and only the first few groups print in full.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ._frames import format_stack
from ._values import Leak, Origin

__all__ = ["count_by_kind", "describe_origin", "format_leaks", "summarize_kinds"]


def describe_origin(origin: Origin | None) -> str:
    if origin is None:
        return "unknown (started before checking began, or outside Thread.start/create_task)"
    parts = []
    if origin.phase:
        parts.append(f"during {origin.phase}")
    if origin.owner is not None:
        parts.append(f"of {origin.owner.describe()}")
    if origin.started_by != "MainThread" or not parts:
        parts.append(f"from thread {origin.started_by!r}")
    return " ".join(parts)


def _group_key(leak: Leak) -> tuple[object, ...]:
    return (
        leak.kind,
        leak.target,
        tuple((r.filename, r.lineno) for r in leak.stack),
        tuple((r.filename, r.lineno) for r in leak.origin.stack)
        if leak.origin and leak.origin.stack
        else None,
    )


def count_by_kind(leaks: Sequence[Leak]) -> Counter[str]:
    return Counter(leak.kind for leak in leaks)


def _plural(kind: str, n: int) -> str:
    if n == 1:
        return f"1 {kind}"
    return f"{n} {kind}s"


def summarize_kinds(leaks: Sequence[Leak]) -> str:
    """'2 threads and 1 task' — in a stable order."""
    counts = count_by_kind(leaks)
    parts = [_plural(kind, counts[kind]) for kind in sorted(counts)]
    if len(parts) <= 1:
        return "".join(parts) or "nothing"
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _entry(number: int, group: list[Leak]) -> list[str]:
    leak = group[0]
    header = f"[{number}] {leak.kind} {leak.name!r} ({leak.identity})"
    lines = [header]
    if len(group) > 1:
        names = ", ".join(repr(g.name) for g in group[1:11])
        more = f" and {len(group) - 11} more" if len(group) > 11 else ""
        lines.append(f"    + {len(group) - 1} more like it: {names}{more}")
    if leak.target:
        lines.append(f"    runs: {leak.target}")
    lines.append(f"    started: {describe_origin(leak.origin)}")
    if leak.note:
        lines.append(f"    note: {leak.note}")
    if leak.stack:
        lines.append("    stack now (most recent call last):")
        lines.extend(format_stack(leak.stack, indent="      "))
    elif leak.kind != "native thread":
        lines.append("    stack now: not available (it is running C code or just finished)")
    if leak.waiting_on:
        lines.append(f"    waiting on: {leak.waiting_on}")
    if leak.origin is not None and leak.origin.stack:
        lines.append("    started at (most recent call last):")
        lines.extend(format_stack(leak.origin.stack, indent="      "))
    elif leak.origin is not None:
        lines.append("    started at: not recorded (origin capture is off)")
    return lines


def format_leaks(leaks: Sequence[Leak], *, max_groups: int = 5, who: str = "") -> str:
    """The full human report for *leaks*; empty string when there are none."""
    if not leaks:
        return ""
    groups: dict[tuple[object, ...], list[Leak]] = {}
    for leak in leaks:
        groups.setdefault(_group_key(leak), []).append(leak)
    subject = f"{who} left" if who else "left"
    lines = [f"leakcheck: {subject} {summarize_kinds(leaks)} behind"]
    blocking = [leak for leak in leaks if leak.blocks_exit]
    if blocking:
        lines.append(
            f"  {len(blocking)} of them NOT daemon: the interpreter will wait for them at exit"
        )
    ordered = list(groups.values())
    for number, group in enumerate(ordered[:max_groups], start=1):
        lines.append("")
        lines.extend(_entry(number, group))
    hidden = ordered[max_groups:]
    if hidden:
        count = sum(len(g) for g in hidden)
        lines.append("")
        lines.append(
            f"... and {len(hidden)} more group(s), {count} straggler(s), not shown "
            f"({', '.join(sorted({repr(g[0].target or g[0].name) for g in hidden})[:10])})"
        )
    return "\n".join(lines)
