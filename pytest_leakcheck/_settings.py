"""Every option, ini key and marker argument: read, checked and turned into values here.

One place reads the command line, the ini file and ``@pytest.mark.leakcheck``
and checks each value as it reads it, so a bad one stops the run up front
(:class:`pytest.UsageError`, exit code 4) or fails the setup of the test whose
marker it is, never a check that silently does less. Every message has one
shape (:func:`~._options.invalid`): the setting, what it allows, the value
given. plugin.py keeps only the hooks, and the session only ever sees values.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from ._options import IGNORE_PATTERN, IgnoreRule, Options, invalid, parse_ignore

__all__ = ["MODES", "MarkerError", "SettingError", "Settings", "item_settings", "read_settings"]

MODES = ("fail", "warn")
MARKER_ARGS = ("ignore", "timeout", "enabled")

_SECONDS = "a finite number of seconds >= 0"
_BOOL = "true or false (or yes/no, on/off, 1/0)"
_MODE = " or ".join(MODES) + " (in any case)"
_REPORT = "a JSON file path in an existing, writable directory"
_MARKER = "@pytest.mark.leakcheck"


class SettingError(ValueError):
    """A setting we cannot use; the message names it, what it allows and the value."""


class MarkerError(SettingError):
    """A ``@pytest.mark.leakcheck(...)`` argument we cannot use: fails that test's setup."""


@dataclass(frozen=True)
class Settings:
    """The session's settings, all checked; ``report_path`` is absolute."""

    options: Options
    enabled: bool = True
    mode: str = "fail"
    report_path: str | None = None


def _seconds(raw: object, where: str) -> float:
    """A grace period from an option string or a marker number; finite and >= 0.

    Infinity is refused: the check would never return while a straggler lives.
    """
    value: float
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise SettingError(invalid(where, _SECONDS, raw)) from None
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = float(raw)
    else:
        raise SettingError(invalid(where, _SECONDS, raw))
    if not 0 <= value < float("inf"):  # NaN fails too
        raise SettingError(invalid(where, _SECONDS, raw))
    return value


def _mode(raw: str, where: str) -> str:
    mode = raw.strip().lower()
    if mode not in MODES:
        raise SettingError(invalid(where, _MODE, raw))
    return mode


def _ignore_rules(
    patterns: Iterable[object], where: str, *, numbered: bool = False
) -> tuple[IgnoreRule, ...]:
    """Parse each pattern; with *numbered*, the error names the item by its index."""
    rules = []
    for index, item in enumerate(patterns):
        if isinstance(item, IgnoreRule):
            rules.append(item)
            continue
        named = f"{where} item {index}" if numbered else where
        try:
            rules.append(parse_ignore(item, where=named))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise SettingError(str(exc)) from None
    return tuple(rules)


_QUOTED_TAIL = re.compile(r"""('[^']*'|"[^"]*")\s*$""")


def _given(message: str) -> object:
    """The value a pytest ini-type error ends with: its repr, or after the last ': '."""
    tail = _QUOTED_TAIL.search(message)
    text = tail.group(1) if tail else message.rsplit(": ", 1)[-1]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _ini_bool(config: pytest.Config, key: str) -> bool:
    """pytest's own error for a bad bool names the value but not the key: add it.

    (pytest 8 raises ValueError, pytest 9 a UsageError, a TypeError's message
    for a native TOML value; each ends with the value, which is all they tell
    us about it.)
    """
    try:
        return bool(config.getini(key))
    except (ValueError, TypeError, pytest.UsageError) as exc:
        raise SettingError(invalid(f"ini {key}", _BOOL, _given(str(exc)))) from None


def _report_path(raw: str | None, *, check: bool) -> str | None:
    """The report file, made absolute (the messages say where it goes), and writable
    as far as we can tell.

    Checked now so a typo costs seconds, not a whole run; a write that still
    fails at the end makes the run fail (see the session).
    """
    where = "--leakcheck-report"
    if raw is None:
        return None
    if not raw.strip():
        raise SettingError(invalid(where, _REPORT, raw, "it is empty"))
    path = os.path.abspath(raw)
    if not check:
        return path
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise SettingError(invalid(where, _REPORT, raw, "it is a directory"))
    if not os.path.isdir(parent):
        raise SettingError(invalid(where, _REPORT, raw, f"no directory {parent}"))
    writable = os.access(parent, os.W_OK | os.X_OK) and (
        not os.path.exists(path) or os.access(path, os.W_OK)
    )
    if not writable:
        raise SettingError(invalid(where, _REPORT, raw, "not writable"))
    return path


def _read(config: pytest.Config, *, check_report_path: bool) -> Settings:
    # Each ini key is checked even where the command line overrides it.
    flag = config.getoption("leakcheck")
    enabled = _ini_bool(config, "leakcheck")
    if flag is not None:
        enabled = bool(flag)
    timeout = _seconds(config.getini("leakcheck_timeout"), "ini leakcheck_timeout")
    if (cli_timeout := config.getoption("leakcheck_timeout")) is not None:
        timeout = _seconds(cli_timeout, "--leakcheck-timeout")
    mode = _mode(str(config.getini("leakcheck_mode")), "ini leakcheck_mode")
    if (cli_mode := config.getoption("leakcheck_mode")) is not None:
        mode = _mode(cli_mode, "--leakcheck-mode")
    options = Options(
        timeout=timeout,
        ignore=_ignore_rules(config.getini("leakcheck_ignore"), "ini leakcheck_ignore"),
        strict_pools=_ini_bool(config, "leakcheck_strict_pools"),
        capture_stacks=_ini_bool(config, "leakcheck_origins"),
        check_native=_ini_bool(config, "leakcheck_native"),
    )
    return Settings(
        options=options,
        enabled=enabled,
        mode=mode,
        report_path=_report_path(config.getoption("leakcheck_report"), check=check_report_path),
    )


def read_settings(config: pytest.Config, *, check_report_path: bool = True) -> Settings:
    """Read and check every option and ini key, whether checking is on or not.

    A bad value is a :class:`pytest.UsageError` (exit code 4) before any test
    runs. *check_report_path* is False where no report is written (an xdist
    worker, which may not even share the controller's file system).
    """
    try:
        return _read(config, check_report_path=check_report_path)
    except SettingError as exc:
        raise pytest.UsageError(str(exc)) from None


# -- the marker ------------------------------------------------------------------


def _marker_kwargs(item: pytest.Item) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    allowed = "keyword arguments " + ", ".join(f"{name}=" for name in MARKER_ARGS)
    for marker in reversed(list(item.iter_markers("leakcheck"))):  # closest wins
        if marker.args:
            raise SettingError(invalid(f"{_MARKER}(...) arguments", allowed, marker.args))
        unknown = sorted(set(marker.kwargs) - set(MARKER_ARGS))
        if unknown:
            raise SettingError(invalid(f"{_MARKER}(...) arguments", allowed, unknown))
        merged.update(marker.kwargs)
    return merged


def _marker_ignore(value: object) -> tuple[IgnoreRule, ...]:
    where = f"{_MARKER}(ignore=...)"
    if isinstance(value, (str, IgnoreRule)):
        return _ignore_rules([value], where)
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise SettingError(invalid(where, f"{IGNORE_PATTERN}, or a list of them", value))
    return _ignore_rules(value, where, numbered=True)


def _marker_settings(item: pytest.Item, base: Options) -> tuple[bool, Options]:
    kwargs = _marker_kwargs(item)
    enabled = kwargs.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SettingError(invalid(f"{_MARKER}(enabled=...)", "True or False", enabled))
    options = base
    if "timeout" in kwargs:
        options = replace(options, timeout=_seconds(kwargs["timeout"], f"{_MARKER}(timeout=...)"))
    if "ignore" in kwargs:
        options = replace(options, ignore=options.ignore + _marker_ignore(kwargs["ignore"]))
    return enabled, options


def _has_marker(item: pytest.Item) -> bool:
    """Does *item* or a node above it carry the marker? (Most do not: a plain
    walk up the nodes' own markers, a fraction of ``iter_markers``' cost.)"""
    node: pytest.Item | pytest.Collector | None = item
    while node is not None:
        for mark in node.own_markers:
            if getattr(mark, "name", None) == "leakcheck":
                return True
        node = node.parent
    return False


def item_settings(item: object, base: Options) -> tuple[bool, Options]:
    """Is the check on for *item*, and with which options (its marker applied)?

    One walk over the item's markers answers both, per test; every argument is
    checked here, and a bad one is a :class:`MarkerError`.
    """
    if not isinstance(item, pytest.Item) or not _has_marker(item):
        return True, base
    try:
        return _marker_settings(item, base)
    except SettingError as exc:
        raise MarkerError(str(exc)) from None
