"""``leakcheck-kata`` end to end: exit status, output, and clear one-line refusals.

Run as a real process (``python -m leakcheck_kata.cli``), so "never our
traceback" is checked on what a user actually sees.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SUBMISSIONS


def kata(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leakcheck_kata.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_reference_passes_every_criterion(backend: str) -> None:
    done = kata("--backend", backend, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["passed"] is True
    assert data["backend"] == backend
    assert "bundled reference" in data["target"]
    assert [c["id"] for c in data["criteria"]] == [f"C{i}" for i in range(1, 10)]
    assert {c["verdict"] for c in data["criteria"]} == {"PASS"}
    assert data["seconds"] < 60


def test_table_and_evidence_for_a_failure() -> None:
    done = kata(str(SUBMISSIONS / "bad_ignore_bound.py"), "--only", "C4,C9")
    assert done.returncode == 1
    out = done.stdout
    assert "C4  bounded concurrency" in out and "FAIL" in out
    assert "C9  consumer exception" in out and "PASS" in out
    assert "more than 4" in out
    assert "=== C4 bounded concurrency: FAIL" in out
    assert "FAIL: 1/2 criteria passed" in out


def test_module_form_target() -> None:
    done = kata("fetcher:DataFetcher", "--only", "c9")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS: 1/1" in done.stdout


def _syntax_error(tmp: Path) -> Path:
    path = tmp / "broken.py"
    path.write_text("class DataFetcher:\n    def fetch(self, urls)\n        pass\n")
    return path


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing.py", "file not found: missing.py"),
        ("no_such_package.mod", "no module named 'no_such_package.mod'"),
        ("fetcher:NoSuchName", "the module defines no NoSuchName"),
        ("shape_no_fetcher", "the module defines no DataFetcher"),
        ("shape_wrong_signature", "wrong signature DataFetcher(urls: list[str], timeout: float)"),
        ("shape_async_generator", "fetch is an async generator"),
        ("shape_not_cm", "returned list, not an async context manager"),
        ("shape_result_fields", "Result lacks error"),
        ("shape_import_error", "raised ModuleNotFoundError"),
        ("SYNTAX", "line 2: expected ':'"),
    ],
)
def test_ungradable_submission_gets_one_clear_line(
    target: str, message: str, tmp_path: Path
) -> None:
    if target == "SYNTAX":
        target = str(_syntax_error(tmp_path))
    elif target.startswith("shape_"):
        target = str(SUBMISSIONS / f"{target}.py")
    done = kata(target, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("leakcheck-kata: cannot grade: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_ungradable_as_json(tmp_path: Path) -> None:
    done = kata("missing.py", "--json", cwd=tmp_path)
    assert done.returncode == 2
    assert json.loads(done.stdout) == {
        "target": "missing.py",
        "error": "file not found: missing.py",
    }


def test_unknown_criterion() -> None:
    done = kata("--only", "C10")
    assert done.returncode == 2
    assert "unknown criterion C10" in done.stderr


def test_the_default_target_is_the_bundled_reference_not_a_local_fetcher(tmp_path: Path) -> None:
    (tmp_path / "fetcher.py").write_text("raise SystemExit('the local fetcher.py was imported')\n")
    done = kata("--only", "C9", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bundled reference" in done.stdout and "PASS: 1/1" in done.stdout


def test_trio_backend_without_trio_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from leakcheck_kata.cli import main

    monkeypatch.setitem(sys.modules, "trio", None)  # as if not installed: import fails
    assert main(["--backend", "trio", "--only", "C1"]) == 2
    err = capsys.readouterr().err
    assert "leakcheck-kata: error: --backend trio: trio is not installed" in err
    assert "pip install 'pytest-leakcheck[kata]'" in err
