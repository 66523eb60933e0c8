"""``leakcheck-kata``: grade a kata 17 submission from the command line.

Exit status: 0 iff every graded criterion passed, 1 if any failed, 2 if the
submission cannot be graded at all (not found, syntax error, wrong shape) or
the command line is wrong. Problems with the submission or the command line
are one line on stderr (with ``--json``, also a ``{"target", "error"}`` object
on stdout), never the grader's traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

from . import BACKENDS, grade, missing_backend
from .catalog import CRITERIA, select
from .limits import Caps, parse_size, size_text
from .model import SubmissionError
from .report import render_json, render_text

EXIT_PASS, EXIT_FAIL, EXIT_UNGRADABLE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
DEFAULT_CAPS = Caps()
MIN_MEMORY = 256 << 20
"""Below this the grader's own imports (anyio, httpx, respx) do not fit in the cap."""
MIN_TASKS = 8
"""The worker's own threads (main, heartbeat, watchdog, an executor or two)."""
MIN_FILES = 32
"""The worker's own descriptors (standard streams, event loop, log, imports)."""


class UsageError(Exception):
    """The command line is wrong; the message names the option, the value, what is allowed."""

    def __init__(self, message: str, target: str | None = None) -> None:
        super().__init__(message)
        self.target = target


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Raise instead of exiting, so that ``--json`` can answer with a JSON object too."""
        raise UsageError(message)


@dataclass(frozen=True)
class _Invalid:
    """A value its option does not allow: kept, not raised, so that parsing still
    finds the target (which the --json error object names)."""

    problem: str


def _number(
    kind: Callable[[str], Any], least: float, what: str, *, exclusive: bool = False
) -> Callable[[str], Any]:
    """An argparse type: *kind* of the text, at least (or, *exclusive*, more than) *least*."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value != value or (value <= least if exclusive else value < least):
            bound = f"> {least:g}" if exclusive else f">= {least:g}"
            return _Invalid(f"{text!r} is not allowed: {what} {bound}")
        return value

    return convert


def _memory(text: str) -> Any:
    try:
        size = parse_size(text)
    except ValueError as exc:
        return _Invalid(str(exc))
    if size < MIN_MEMORY:
        return _Invalid(
            f"{text!r} is not allowed: at least {size_text(MIN_MEMORY)} (the grader's own "
            "imports need it)"
        )
    return size


def _criteria(text: str) -> Any:
    try:
        select(text)
    except ValueError as exc:
        return _Invalid(str(exc))
    return text


def _parse(argv: list[str]) -> argparse.Namespace:
    """Parse and check every option; UsageError names the option, the value, what is allowed."""
    args, unknown = _parser().parse_known_args(argv)
    for dest, value in vars(args).items():
        if isinstance(value, _Invalid):
            raise UsageError(f"argument --{dest.replace('_', '-')}: {value.problem}", args.target)
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)}", args.target)
    why = missing_backend(args.backend)
    if why:
        raise UsageError(f"--backend {args.backend}: {why}", args.target)
    return args


def _parser() -> argparse.ArgumentParser:
    table = "\n".join(
        textwrap.fill(
            c.pass_iff, 100, initial_indent=f"  {c.id}  {c.name:<28} ", subsequent_indent=" " * 35
        )
        for c in CRITERIA
    )
    parser = _Parser(
        prog="leakcheck-kata",
        description="Grade a kata 17 DataFetcher submission, criterion by criterion.",
        epilog=f"criteria:\n{table}\n\nexit status: 0 all passed, 1 some failed, "
        "2 the submission cannot be graded",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target",
        nargs="?",
        default=None,
        help="a .py file or package.module[:DataFetcher] "
        "(default: the bundled reference fetcher.DataFetcher)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="asyncio",
        help="anyio backend to run on (default: asyncio)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--only",
        metavar="C5,C7",
        type=_criteria,
        default=None,
        help="grade only these criteria (C1..C9, comma-separated)",
    )
    parser.add_argument(
        "--timeout",
        type=_number(float, 0, "a number of seconds", exclusive=True),
        default=None,
        metavar="SECONDS",
        help="hard time limit per criterion process, and for loading the submission "
        "(default: per criterion, 20-30 s; loading 30 s)",
    )
    parser.add_argument(
        "--jobs",
        type=_number(int, 1, "a whole number of processes"),
        default=None,
        metavar="N",
        help="criterion processes at once (default: one per CPU this process may use)",
    )
    caps = parser.add_argument_group(
        "caps of each criterion process (hitting one fails that criterion, naming the cap)"
    )
    cap_options: list[tuple[str, Callable[[str], Any], int, str, str]] = [
        (
            "--memory",
            _memory,
            DEFAULT_CAPS.memory,
            "SIZE",
            f"address space, like 512M or 2G (default: {size_text(DEFAULT_CAPS.memory)}; "
            f"at least {size_text(MIN_MEMORY)})",
        ),
        (
            "--cpu-time",
            _number(int, 1, "a whole number of seconds"),
            DEFAULT_CAPS.cpu,
            "SECONDS",
            f"CPU seconds of each process (default: {DEFAULT_CAPS.cpu})",
        ),
        (
            "--max-tasks",
            _number(int, MIN_TASKS, "a whole number"),
            DEFAULT_CAPS.tasks,
            "N",
            f"threads plus processes (default: {DEFAULT_CAPS.tasks}; at least {MIN_TASKS})",
        ),
        (
            "--max-files",
            _number(int, MIN_FILES, "a whole number"),
            DEFAULT_CAPS.files,
            "N",
            f"open files and sockets of each process (default: {DEFAULT_CAPS.files}; "
            f"at least {MIN_FILES})",
        ),
    ]
    for flag, kind, default, metavar, text in cap_options:
        caps.add_argument(flag, type=kind, default=default, metavar=metavar, help=text)
    return parser


def _usage_error(argv: list[str], error: UsageError) -> int:
    """The usage and one line on stderr; with --json also the JSON error object on stdout."""
    if "--json" in argv:
        print(json.dumps({"target": error.target, "error": str(error)}))
    print(_parser().format_usage().rstrip(), file=sys.stderr)
    print(f"leakcheck-kata: error: {error}", file=sys.stderr)
    return EXIT_UNGRADABLE


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so the criterion processes and temp dirs go too."""


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: Any) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Run the grader; returns (and, as a console script, exits with) the status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parse(argv)
    except UsageError as exc:
        return _usage_error(argv, exc)
    caps = Caps(args.memory, args.cpu_time, args.max_tasks, args.max_files)
    try:
        with _terminate_as_interrupt():
            result = grade(
                args.target,
                backend=args.backend,
                only=args.only,
                limit=args.timeout,
                caps=caps,
                jobs=args.jobs,
            )
    except SubmissionError as exc:
        if args.json:
            print(json.dumps({"target": args.target, "error": str(exc)}))
        print(f"leakcheck-kata: cannot grade: {exc}", file=sys.stderr)
        return EXIT_UNGRADABLE
    except KeyboardInterrupt as exc:  # the criterion processes are already killed
        terminated = isinstance(exc, _Terminated)
        print(f"leakcheck-kata: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    try:
        print(render_json(result) if args.json else render_text(result), flush=True)
    except BrokenPipeError:  # `leakcheck-kata | head`: the reader left, not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_PASS if result.passed else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
