"""``leakcheck-kata``: grade a kata 17 submission from the command line.

Exit status: 0 iff every graded criterion passed, 1 if any failed, 2 if the
submission cannot be graded at all (not found, syntax error, wrong shape) or
the command line is wrong. Problems with the submission are one line on
stderr, never the grader's traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap

from . import BACKENDS, grade
from .catalog import CRITERIA
from .model import SubmissionError
from .report import render_json, render_text

EXIT_PASS, EXIT_FAIL, EXIT_UNGRADABLE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    table = "\n".join(
        textwrap.fill(
            c.pass_iff, 100, initial_indent=f"  {c.id}  {c.name:<28} ", subsequent_indent=" " * 35
        )
        for c in CRITERIA
    )
    parser = argparse.ArgumentParser(
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
    parser.add_argument("--only", metavar="C5,C7", default=None, help="grade only these criteria")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="hard time limit per criterion process (default: per criterion, 20-30 s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the grader; returns (and, as a console script, exits with) the status."""
    args = _parser().parse_args(argv)
    try:
        result = grade(args.target, backend=args.backend, only=args.only, limit=args.timeout)
    except SubmissionError as exc:
        if args.json:
            print(json.dumps({"target": args.target, "error": str(exc)}))
        print(f"leakcheck-kata: cannot grade: {exc}", file=sys.stderr)
        return EXIT_UNGRADABLE
    except ValueError as exc:  # --only with an unknown id
        print(f"leakcheck-kata: {exc}", file=sys.stderr)
        return EXIT_UNGRADABLE
    except KeyboardInterrupt:  # the criterion processes are already killed
        print("leakcheck-kata: interrupted", file=sys.stderr)
        return 130
    try:
        print(render_json(result) if args.json else render_text(result), flush=True)
    except BrokenPipeError:  # `leakcheck-kata | head`: the reader left, not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_PASS if result.passed else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
