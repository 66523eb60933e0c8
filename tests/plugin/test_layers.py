"""The library's layers: each module imports only modules below it, and the
library below the pytest layer imports no pytest.

The order is the architecture, written down once: value types at the bottom,
then what describes and records live objects, the patches, the checks, the
public API, and the pytest hooks on top. A new module must be placed here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest_leakcheck

PACKAGE = Path(pytest_leakcheck.__file__).parent

#: Bottom first. A module may import only modules listed before it.
LAYERS = [
    # leaves: no import of ours
    "_frames",
    "_on_import",
    "_options",
    "_os_threads",
    "_tasks",
    "_warnings",
    # value types
    "_values",
    # reading live objects, and the exemptions
    "_pools",
    "_describe",
    # recording: who started what, reaped tasks, loops
    "_provenance",
    "_ledger",
    "_loops",
    # instrumenting
    "_trio",
    "_patches",
    # checking
    "_snapshot",
    "_verdict",
    "_report",
    "_summary",
    # the public library
    "_api",
    "__init__",
    # the pytest layer
    "_settings",
    "_session",
    "_nested",
    "_xdist",
    "plugin",
]

PYTEST_LAYER = {"_settings", "_session", "_nested", "_xdist", "plugin"}


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(our modules it imports, top-level third-party packages it imports)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    ours: set[str] = set()
    theirs: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                ours.add(node.module.split(".")[0])
            else:
                ours.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            theirs.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            theirs.update(alias.name.split(".")[0] for alias in node.names)
    return ours, theirs


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules == set(LAYERS), "place each module in LAYERS (and drop removed ones)"


def test_no_module_imports_one_above_it() -> None:
    rank = {name: index for index, name in enumerate(LAYERS)}
    upward = [
        f"{module} imports {imported}"
        for module in LAYERS
        for imported in sorted(_imports(module)[0])
        if rank[imported] >= rank[module]
    ]
    assert upward == []


def test_only_the_pytest_layer_imports_pytest() -> None:
    offenders = [
        module
        for module in LAYERS
        if module not in PYTEST_LAYER and {"pytest", "_pytest", "pluggy"} & _imports(module)[1]
    ]
    assert offenders == []


def test_importing_the_library_loads_no_pytest_or_kata_dependency() -> None:
    code = (
        "import sys, pytest_leakcheck\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pytest', '_pytest', 'pluggy', 'anyio', 'httpx', 'trio', 'respx'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_version_comes_from_the_distribution() -> None:
    from importlib.metadata import version

    assert pytest_leakcheck.__version__ == version("pytest-leakcheck")


def test_the_readme_lists_every_default_exemption() -> None:
    """Each exemption is documented with what it matches and why (README table)."""
    from pytest_leakcheck._pools import INFRASTRUCTURE

    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    missing = [what for what, _, _ in INFRASTRUCTURE if f"| {what} |" not in readme]
    assert missing == []
