"""Count a module's code lines: lines with a statement's token, docstrings and comments left out.

Why: issue 19 holds the module that defines ``DataFetcher`` to 150 code lines and its
docstring to 30 lines. A line counts if a token other than a comment, a newline or an
indent touches it, and it is not part of a module, class or function docstring (found
with ``ast``); blank lines and comment-only lines never count.

Run:  .venv/bin/python benchmarks/code_lines.py fetcher/datafetcher.py [more.py ...]
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

_NOT_CODE = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
}
_HAS_DOCSTRING = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def docstring_lines(tree: ast.Module) -> tuple[set[int], int]:
    """Line numbers of every docstring, and the module docstring's length in lines."""
    lines: set[int] = set()
    module_doc = 0
    for node in ast.walk(tree):
        if not isinstance(node, _HAS_DOCSTRING) or not node.body:
            continue
        first = node.body[0]
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            span = range(first.lineno, (first.end_lineno or first.lineno) + 1)
            lines.update(span)
            if isinstance(node, ast.Module):
                module_doc = len(span)
    return lines, module_doc


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    for path in paths:
        source = Path(path).read_text(encoding="utf-8")
        docs, module_doc = docstring_lines(ast.parse(source))
        code: set[int] = set()
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type not in _NOT_CODE:
                code.update(range(token.start[0], token.end[0] + 1))
        print(
            f"{path}: {len(code - docs)} code lines; module docstring {module_doc} lines;"
            f" {len(source.splitlines())} lines in all"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
