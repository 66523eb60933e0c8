"""Generated test suites for the plugin-overhead benchmarks.

The suites are written to a temporary directory, each with its own
``pytest.ini`` so that the project's own ini (which turns leak checking on)
never applies: every configuration starts from plain pytest and adds exactly
one option. A ``conftest.py`` applies pyleak's ``no_leaks`` marker to every
test when ``BENCH_PYLEAK=1``, so one generated suite serves every tool.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SUITES",
    "TASK_HEAVY",
    "Suite",
    "outcome",
    "pytest_command",
    "pytest_env",
    "suite_folder",
    "write_suite",
]

HERE = Path(__file__).resolve().parent
# pytest-randomly (in the project's test extra) reseeds per test: not plain pytest.
_NO_PLUGINS = ["-p", "no:randomly"] if importlib.util.find_spec("pytest_randomly") else []

PER_FILE = 100

_INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
"""

_CONFTEST = """\
import os

import pytest


def pytest_collection_modifyitems(items):
    # pyleak is opt-in per test through its marker: apply it to all of them.
    if os.environ.get("BENCH_PYLEAK") == "1":
        for item in items:
            item.add_marker(pytest.mark.no_leaks)
"""

_BODIES = {
    "sync": ("", "def test_{i}():\n    assert {i} >= 0\n"),
    "asyncio": (
        "import asyncio\n\nimport pytest\n\n",
        "@pytest.mark.asyncio\nasync def test_{i}():\n    await asyncio.sleep(0)\n",
    ),
    "anyio": (
        "import anyio\nimport pytest\n\n\n@pytest.fixture\ndef anyio_backend():\n"
        "    return 'asyncio'\n\n\n",
        "@pytest.mark.anyio\nasync def test_{i}():\n    await anyio.sleep(0)\n",
    ),
    # the task-heavy suites (task_heavy.py): many starts per test
    "gather50": (
        "import asyncio\n\nimport pytest\n\n",
        "@pytest.mark.asyncio\nasync def test_{i}():\n"
        "    await asyncio.gather(*(asyncio.sleep(0) for _ in range(50)))\n",
    ),
    "taskgroup20": (
        "import anyio\nimport pytest\n\n\n@pytest.fixture\ndef anyio_backend():\n"
        "    return 'asyncio'\n\n\n",
        "@pytest.mark.anyio\nasync def test_{i}():\n"
        "    async with anyio.create_task_group() as tg:\n"
        "        for _ in range(20):\n"
        "            tg.start_soon(anyio.sleep, 0)\n",
    ),
    "threads5": (
        "import threading\n\n\ndef _work(out):\n    out.append(1)\n\n",
        "def test_{i}():\n    out = []\n"
        "    threads = [threading.Thread(target=_work, args=(out,)) for _ in range(5)]\n"
        "    for t in threads:\n        t.start()\n    for t in threads:\n        t.join()\n"
        "    assert out == [1] * 5\n",
    ),
    "threads": (
        "import threading\n\n\ndef _work(out):\n    out.append(1)\n\n",
        "def test_{i}():\n    out = []\n    t = threading.Thread(target=_work, args=(out,))\n"
        "    t.start()\n    t.join()\n    assert out == [1]\n",
    ),
}


@dataclass(frozen=True)
class Suite:
    """One generated suite: its kind and how many tests it holds."""

    name: str
    kind: str
    count: int


SUITES = (
    Suite("sync (2,000 trivial)", "sync", 2000),
    Suite("pytest-asyncio (500)", "asyncio", 500),
    Suite("anyio (500)", "anyio", 500),
    Suite("thread start+join (200)", "threads", 200),
)

#: Suites that start many tasks or threads per test (sized by task_heavy.py).
TASK_HEAVY = (
    Suite("asyncio gather(50 sleep(0))", "gather50", 1000),
    Suite("anyio task group of 20", "taskgroup20", 1000),
    Suite("5 threads start+join", "threads5", 1000),
)


def suite_folder(root: Path, name: str) -> Path:
    """A directory under *root* that plain pytest runs with its own ini (none of ours)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pytest.ini").write_text(_INI)
    (folder / "conftest.py").write_text(_CONFTEST)
    return folder


def write_suite(root: Path, suite: Suite, count: int | None = None) -> Path:
    """Write *suite* (or its first *count* tests) under *root*; return its directory."""
    count = suite.count if count is None else count
    folder = suite_folder(root, f"{suite.kind}_{count}")
    header, body = _BODIES[suite.kind]
    for start in range(0, count, PER_FILE):
        tests = "\n\n".join(body.format(i=i) for i in range(start, min(start + PER_FILE, count)))
        (folder / f"test_{suite.kind}_{start // PER_FILE:03d}.py").write_text(header + tests)
    return folder


def pytest_command(args: Sequence[str], python_args: Sequence[str] = ()) -> list[str]:
    """A fresh quiet pytest process on a generated suite, plus *args*
    (*python_args* go to the interpreter: a profiler's ``-m cProfile ...``)."""
    cmd = [sys.executable, *python_args, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    return [*cmd, *_NO_PLUGINS, *args]


_COUNTS = re.compile(r"(\d+) (passed|failed|error|errors|skipped)")


def outcome(stdout: str) -> str:
    """pytest's final counts ("2000 passed"), or the tail of its output when it printed none."""
    lines = stdout.strip().splitlines()
    counts = _COUNTS.findall(lines[-1]) if lines else []
    return ", ".join(f"{n} {kind}" for n, kind in counts) or stdout[-200:] or "no output"


def pytest_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment, as a user's pytest would see it, plus *extra*."""
    env = {**os.environ, **extra, "PYTHONPATH": str(HERE)}
    env.pop("PYTEST_ADDOPTS", None)
    # A user's pytest caches compiled and assertion-rewritten modules; without
    # the cache every run recompiles ~160 modules (seconds of start-up noise).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
