"""Options as values: what counts as a leak, and how long to wait for stragglers.

Like goleak's options, an :class:`Options` is an immutable value; the pytest
plugin builds one from ini/CLI/marker settings and the library API takes one
directly, so both paths share every rule.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

__all__ = [
    "DEFAULT_TIMEOUT",
    "IGNORE_PATTERN",
    "IgnoreRule",
    "Options",
    "backoff",
    "invalid",
    "parse_ignore",
]

#: About 20 counted retries, 1 µs doubling to a 100 ms cap (goleak counts its retries too).
DEFAULT_TIMEOUT = 0.43

_FIELDS = ("name", "target", "top", "any", "origin")

#: What an ignore pattern may be, as the error messages say it.
IGNORE_PATTERN = "a glob, optionally after one of the prefixes " + ", ".join(
    f"{f}:" for f in _FIELDS
)

#: A leading word of letters and a colon is read as a prefix (see parse_ignore).
_PREFIX = re.compile(r"([A-Za-z]+):")


def invalid(where: str, allowed: str, value: object, why: str = "") -> str:
    """The one shape of every bad-setting message: the setting, what it allows, what it got.

    Options, ini keys, marker arguments and library arguments all say it the
    same way, so a user learns to read one message.
    """
    text = f"{where} must be {allowed}, got {value!r}"
    return f"{text} ({why})" if why else text


@dataclass(frozen=True)
class IgnoreRule:
    """One ignore pattern (a glob) and the field it looks at.

    ``field`` is one of ``name`` (thread or task name), ``target`` (what it
    runs: a thread's target, a task's coroutine, as ``module.qualname``),
    ``top`` (the innermost function of its current stack), ``any`` (any
    function of its current stack), ``origin`` (any function of the stack that
    started it), or ``""`` for all of them.
    """

    pattern: str
    field: str = ""

    def matches(
        self,
        name: str,
        target: str | None,
        stack: Iterable[str],
        origin: Iterable[str],
    ) -> bool:
        stack = list(stack)
        candidates: list[str] = []
        if self.field in ("", "name"):
            candidates.append(name)
        if self.field in ("", "target") and target:
            candidates.append(target)
        if self.field == "top" and stack:
            candidates.append(stack[-1])
        if self.field in ("", "any"):
            candidates.extend(stack)
        if self.field in ("", "origin"):
            candidates.extend(origin)
        return any(self._match_one(c) for c in candidates)

    def _match_one(self, candidate: str) -> bool:
        # "pkg.mod.Class.fn" also matches as "Class.fn" or "fn": a pattern
        # need not spell out the module (goleak's IgnoreTopFunction reads
        # naturally either way).
        parts = candidate.split(".")
        return any(
            fnmatch.fnmatchcase(".".join(parts[i:]), self.pattern) for i in range(len(parts))
        )


def parse_ignore(spec: str, *, where: str = "a leakcheck ignore pattern") -> IgnoreRule:
    """``"top:pkg.mod.serve"`` -> rule on the top frame; a bare glob -> any field.

    A leading word of letters and a colon is always a prefix, so a mistyped
    one (``nmae:``, ``Name:``, ``re:``) is an error rather than a glob that
    silently matches nothing. A glob that itself starts that way (a thread
    named ``worker:1``) takes a prefix first: ``name:worker:1``. *where* names
    the setting in the error (an ini key, a marker argument).
    """
    if not isinstance(spec, str):
        raise TypeError(invalid(where, IGNORE_PATTERN, spec))
    text = spec.strip()
    if not text:
        raise ValueError(invalid(where, IGNORE_PATTERN, spec, "it is empty"))
    prefix = _PREFIX.match(text)
    if prefix is None:
        return IgnoreRule(text)
    field, rest = prefix.group(1), text[prefix.end() :]
    if field not in _FIELDS:
        raise ValueError(invalid(where, IGNORE_PATTERN, spec, _unknown_prefix(field, text)))
    if not rest:
        raise ValueError(invalid(where, IGNORE_PATTERN, spec, f"nothing after '{field}:'"))
    return IgnoreRule(rest, field)


def _unknown_prefix(field: str, text: str) -> str:
    guess = difflib.get_close_matches(field.lower(), _FIELDS, n=1)
    hint = f"did you mean '{guess[0]}:'? " if guess else ""
    return (
        f"unknown prefix '{field}:'; {hint}"
        f"a glob that itself starts with '{field}:' needs a prefix first, e.g. 'name:{text}'"
    )


@dataclass(frozen=True)
class Options:
    """How a check decides what is a leak.

    ``timeout`` bounds the grace period (summed sleeps, counted rather than
    timed); ``strict_pools`` counts idle pool workers as leaks too (goleak's
    strictness); ``capture_stacks`` records the stack at each start;
    ``check_native`` compares OS threads (Linux ``/proc``) as well.
    """

    timeout: float = DEFAULT_TIMEOUT
    ignore: tuple[IgnoreRule, ...] = ()
    strict_pools: bool = False
    capture_stacks: bool = True
    check_native: bool = True
    max_reported: int = 5

    def __post_init__(self) -> None:
        if not isinstance(self.timeout, (int, float)) or isinstance(self.timeout, bool):
            raise TypeError(f"leakcheck timeout must be a number of seconds, got {self.timeout!r}")
        if not 0 <= self.timeout < math.inf:  # NaN fails too; infinity would never return
            raise ValueError(
                invalid("leakcheck timeout", "a finite number of seconds >= 0", self.timeout)
            )

    def with_ignores(self, patterns: Iterable[str | IgnoreRule]) -> Options:
        """A copy with more ignore rules (anything but a rule is parsed, or refused)."""
        rules = tuple(p if isinstance(p, IgnoreRule) else parse_ignore(p) for p in patterns)
        return replace(self, ignore=self.ignore + rules) if rules else self


_FIRST_SLEEP = 1e-6
_MAX_SLEEP = 0.1


def backoff(timeout: float) -> Iterator[float]:
    """Sleeps of 1 µs, 2 µs, 4 µs … capped at 100 ms, summing to *timeout*."""
    total, delay = 0.0, _FIRST_SLEEP
    while total < timeout:
        step = min(delay, _MAX_SLEEP, timeout - total)
        yield step
        total += step
        delay *= 2
