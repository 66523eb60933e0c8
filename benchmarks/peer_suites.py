"""Precision of ``--leakcheck`` on real test suites nobody here wrote (issue 16).

A leak checker lives or dies by its false flags, and a project's own tests
only show the shapes its authors thought of. This script takes the pinned
sdists of other projects from the package index (their sdists ship their
tests), installs each into its own scratch venv with its test dependencies
and with THIS project (editable, from ``--project``), then runs the suite
plain and with ``--leakcheck``, alternating, and compares per test through
pytest's JUnit XML:

* flagged: tests whose failure text holds a leak report (each with the
  first lines of its reason), to be judged real or false by a person;
* broken: tests that pass plain but fail with the plugin without a leak
  report (the plugin changed what the code under test sees);
* the CPU time (user+sys of the pytest process tree, ``os.wait4``) of the
  ``--leakcheck`` runs against the plain ones.

Suites (pinned; nobody tuned the plugin to the third):
  anyio           anyio 4.16.0 (~2,900 tests; trio, uvloop, threads, processes)
  pytest-asyncio  pytest-asyncio 1.5.0 (~300 tests; inner pytester sessions)
  asgiref         asgiref 3.13.0 (sync_to_async/async_to_sync: thread pools and
                  event loops in threads)

Run:
  .venv/bin/python benchmarks/peer_suites.py                     # all three, 1 round
  .venv/bin/python benchmarks/peer_suites.py --suite asgiref --rounds 2
  .venv/bin/python benchmarks/peer_suites.py --project /work/main --ref HEAD --json out.json
  .venv/bin/python benchmarks/peer_suites.py --suite anyio \\
      --pytest-args "tests/test_sockets.py -k receive_timeout"   # a quick re-run
  .venv/bin/python benchmarks/peer_suites.py --suite anyio --no-run  # judge the last runs again

``--project`` is installed editable, uncommitted work included; ``--ref``
measures one commit of it instead (a ``git archive`` copy). The first run
downloads and installs (a few minutes); later runs reuse the venvs under
``--workdir`` (default ``$TMPDIR/leakcheck-peer-suites``) and only re-install
the project when it changes. Runs are ``nice``d and bounded by
``--run-timeout``; each run's log, JUnit XML and ``--leakcheck-report`` JSON
stay in ``WORKDIR/runs/<commit>/<suite>/``, one directory per plugin state.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _junit import TestResult, leak_reason, read_junit

REPO = Path(__file__).resolve().parent.parent
_STAMP = ".peer-suites.json"
# pip reads a sdist's dependency groups (PEP 735) from 25.1 on.
_PIP = "pip>=25.1"
_OK = ("passed", "skipped")


@dataclass(frozen=True)
class PeerSuite:
    """A pinned sdist and how its own project runs its tests."""

    key: str
    requirement: str
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # PEP 735 dependency groups of the sdist
    pytest_args: tuple[str, ...] = ()
    # More pytest arguments where "localhost" has no IPv6 address (this
    # machine's /etc/hosts): the tests that need one fail plain, and the
    # sockets their fixtures leave unclosed fail whichever later test the
    # garbage collector happens to run in, which would be noise here.
    no_ipv6_localhost: tuple[str, ...] = ()

    def install_spec(self, source: Path) -> list[str]:
        """pip arguments installing the unpacked sdist with its test dependencies."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        groups = [f"--group={source / 'pyproject.toml'}:{g}" for g in self.groups]
        return [f"{source}{extras}", *groups]


SUITES: dict[str, PeerSuite] = {
    suite.key: suite
    for suite in (
        # The test group (blockbuster, hypothesis, psutil, pytest-mock,
        # pytest-timeout, trustme, truststore, uvloop) and trio; the suite's
        # ini sets its own per-test timeout (20 s). "network" tests need the
        # Internet, which this machine does not have.
        PeerSuite(
            "anyio",
            "anyio==4.16.0",
            extras=("trio",),
            groups=("test",),
            pytest_args=("-m", "not network"),
            no_ipv6_localhost=(
                "-k",
                "not ipv6 and not dualstack",
                *(
                    f"--deselect=tests/test_sockets.py::TestTCPStream::"
                    f"test_connection_refused[{backend}-multi]"
                    for backend in ("asyncio", "asyncio+uvloop", "trio")
                ),
            ),
        ),
        # Its tests run pytest inline (pytester) with pytest-asyncio loaded.
        PeerSuite("pytest-asyncio", "pytest-asyncio==1.5.0", groups=("test",)),
        # Threads and loops: sync_to_async runs in thread pools, async_to_sync
        # runs a loop in a thread; nobody tuned the plugin to it.
        PeerSuite("asgiref", "asgiref==3.13.0", extras=("tests",)),
    )
}

CONFIGS: dict[str, tuple[str, ...]] = {"plain": (), "leakcheck": ("--leakcheck",)}


class SetupError(Exception):
    """A step of preparing a suite failed; the message says which and where its log is."""


@dataclass
class Run:
    """One pytest run of one suite in one configuration."""

    config: str
    round: int
    exit_code: int
    cpu: float  # user+sys seconds of the pytest process tree
    wall: float
    log: str
    results: dict[str, TestResult] = field(default_factory=dict)
    error: str = ""  # why there are no results (timeout, no XML)


@dataclass
class SuiteReport:
    """The comparison of one suite's plain and --leakcheck runs."""

    suite: PeerSuite
    runs: list[Run]
    flagged: dict[str, dict[str, Any]]
    broken: dict[str, dict[str, Any]]

    def by_config(self, config: str) -> list[Run]:
        return [run for run in self.runs if run.config == config]

    def cpu_ratio(self) -> float | None:
        """Median over rounds of --leakcheck CPU / plain CPU (pairs cancel load drift)."""
        plain = {r.round: r.cpu for r in self.by_config("plain") if not r.error}
        ratios = [
            r.cpu / plain[r.round]
            for r in self.by_config("leakcheck")
            if not r.error and plain.get(r.round)
        ]
        return statistics.median(ratios) if ratios else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite.key,
            "requirement": self.suite.requirement,
            "runs": [
                {
                    "config": r.config,
                    "round": r.round,
                    "exit_code": r.exit_code,
                    "cpu_seconds": round(r.cpu, 2),
                    "wall_seconds": round(r.wall, 2),
                    "counts": _counts(r.results),
                    "error": r.error,
                    "log": r.log,
                }
                for r in self.runs
            ],
            "cpu_ratio": self.cpu_ratio(),
            "flagged": self.flagged,
            "broken": self.broken,
        }


# -- setup ---------------------------------------------------------------------


def _run_logged(cmd: Sequence[str], log: Path, what: str) -> None:
    """Run a setup step with its output in *log*; a failure names the step and the log."""
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n")
        fh.flush()
        code = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if code != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise SetupError(f"{what} failed (exit {code}); log: {log}\n{tail}")


def _extract(tar: tarfile.TarFile, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):  # PEP 706: no paths outside dest, no devices
        tar.extractall(dest, filter="data")
    else:  # pragma: no cover - a Python without the PEP 706 backport
        tar.extractall(dest)


def _unpack(suite: PeerSuite, workdir: Path, log: Path) -> Path:
    """Download the pinned sdist (once) and unpack it; the source directory."""
    sdists = workdir / "sdists" / suite.key
    sdists.mkdir(parents=True, exist_ok=True)
    archives = sorted(sdists.glob("*.tar.gz"))
    if not archives:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:"]
        cmd += ["--no-deps", "-d", str(sdists), suite.requirement]
        _run_logged(cmd, log, f"downloading the sdist {suite.requirement}")
        archives = sorted(sdists.glob("*.tar.gz"))
    if len(archives) != 1:
        raise SetupError(f"expected one sdist of {suite.requirement} in {sdists}, found {archives}")
    with tarfile.open(archives[0]) as tar:
        top = tar.getnames()[0].split("/")[0]
        source = workdir / "src" / top
        if not source.is_dir():
            _extract(tar, source.parent)
    return source


def _prepare(suite: PeerSuite, workdir: Path, project: Path, python: str) -> tuple[Path, Path]:
    """The suite's source directory and its venv's python, installed as needed."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"setup-{suite.key}.log"
    source = _unpack(suite, workdir, log)
    venv = workdir / "venvs" / suite.key
    vpy = venv / "bin" / "python"
    stamp_path = venv / _STAMP
    want = {"python": python, "spec": suite.install_spec(source)}
    stamp: dict[str, Any] = {}
    if stamp_path.is_file():
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    if {k: stamp.get(k) for k in want} != want:
        print(f"[{suite.key}] creating {venv} (log: {log})", flush=True)
        _run_logged([python, "-m", "venv", "--clear", str(venv)], log, "creating the venv")
        pip = [str(vpy), "-m", "pip", "install", "-q"]
        _run_logged([*pip, "-U", _PIP], log, "upgrading pip in the venv")
        _run_logged([*pip, *want["spec"]], log, f"installing {suite.requirement} and its tests")
        stamp = dict(want)
    if stamp.get("project") != str(project):
        print(f"[{suite.key}] installing {project} (editable)", flush=True)
        _run_logged(
            [str(vpy), "-m", "pip", "install", "-q", "-e", str(project)],
            log,
            f"installing the project {project}",
        )
        stamp["project"] = str(project)
    stamp_path.write_text(json.dumps(stamp, indent=2), encoding="utf-8")
    return source, vpy


# -- running -------------------------------------------------------------------


def _pytest_env() -> dict[str, str]:
    """This environment, as a developer's pytest would see it."""
    env = dict(os.environ)
    for var in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE"):
        env.pop(var, None)
    return env


@functools.cache
def _ipv6_localhost() -> bool:
    try:
        return bool(socket.getaddrinfo("localhost", 0, socket.AF_INET6))
    except OSError:
        return False


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, float, bool]:
    """Exit code, CPU seconds (user+sys of the reaped tree) and whether it timed out.

    ``os.wait4`` gives this child's own rusage, which includes every
    descendant it reaped (pytester subprocesses, process-pool workers);
    ``RUSAGE_CHILDREN`` deltas would mix in anything else this script reaps.
    """
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the whole tree

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # Ctrl-C or SIGTERM: take the run's process tree down with us
        kill()
        os.waitpid(proc.pid, 0)
        raise
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime, timed_out.is_set()


def _run_once(
    suite: PeerSuite,
    source: Path,
    vpy: Path,
    config: str,
    round_: int,
    args: argparse.Namespace,
) -> Run:
    runs = Path(args.runs_dir) / suite.key
    runs.mkdir(parents=True, exist_ok=True)
    stem = runs / f"r{round_}-{config}"
    xml, log = stem.with_suffix(".xml"), stem.with_suffix(".log")
    xml.unlink(missing_ok=True)
    cmd = ["nice", "-n", str(args.nice), str(vpy), "-m", "pytest", "-p", "no:cacheprovider"]
    cmd += ["-o", "junit_family=xunit1", f"--junitxml={xml}", *suite.pytest_args]
    if not _ipv6_localhost():
        cmd += suite.no_ipv6_localhost
    if config == "leakcheck":
        cmd += [*CONFIGS[config], f"--leakcheck-report={stem.with_suffix('.leaks.json')}"]
    cmd += args.pytest_args
    print(f"[{suite.key}] round {round_} {config}: {shlex.join(cmd)}", flush=True)
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        fh.write(f"$ (cd {source} && {shlex.join(cmd)})\n")
        fh.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=source,
            env=_pytest_env(),
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        code, cpu, timed_out = _wait(proc, args.run_timeout)
    run = Run(config, round_, code, cpu, time.perf_counter() - start, str(log))
    if timed_out:
        run.error = f"killed after --run-timeout {args.run_timeout:g} s"
    meta = {k: getattr(run, k) for k in ("config", "round", "exit_code", "cpu", "wall", "log")}
    stem.with_suffix(".run.json").write_text(json.dumps({**meta, "error": run.error}))
    _read_results(run, xml)
    print(
        f"[{suite.key}] round {round_} {config}: {_describe(run)} in {run.wall:.0f} s wall,"
        f" {run.cpu:.0f} s CPU",
        flush=True,
    )
    return run


def run_suite(suite: PeerSuite, args: argparse.Namespace) -> list[Run]:
    """Prepare *suite* and run it ``--rounds`` times each way, alternating which goes first."""
    source, vpy = _prepare(suite, Path(args.workdir), args.project, args.python)
    runs: list[Run] = []
    for round_ in range(1, args.rounds + 1):
        order = list(CONFIGS) if round_ % 2 else list(reversed(CONFIGS))
        runs.extend(_run_once(suite, source, vpy, c, round_, args) for c in order)
    return runs


def _read_results(run: Run, xml: Path) -> None:
    try:
        run.results = read_junit(xml)
    except (OSError, ET.ParseError) as exc:
        run.error = run.error or f"no JUnit XML ({exc}); exit code {run.exit_code}, see {run.log}"


def recorded_runs(suite: PeerSuite, runs_dir: Path) -> list[Run]:
    """The runs a previous invocation left in *runs_dir* (``--no-run``: judge again
    without running again, e.g. after a fix to this script's comparison)."""
    runs = []
    for meta_path in sorted((runs_dir / suite.key).glob("r*-*.run.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        run = Run(**meta)
        _read_results(run, meta_path.with_name(meta_path.name.replace(".run.json", ".xml")))
        runs.append(run)
    return sorted(runs, key=lambda r: (r.round, r.config))


# -- comparing -----------------------------------------------------------------


def _counts(results: dict[str, TestResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results.values():
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return counts


def _describe(run: Run) -> str:
    counts = ", ".join(f"{n} {k}" for k, n in sorted(_counts(run.results).items()))
    return f"{counts or 'no results'}{f' ({run.error})' if run.error else ''}"


def _first_lines(result: TestResult, lines: int) -> list[str]:
    """A failure's summary line(s) first, then its text: what went wrong, then where."""
    text = "\n".join([*result.messages, *result.texts])
    return [line.rstrip() for line in text.splitlines() if line.strip()][:lines]


def compare(suite: PeerSuite, runs: list[Run], lines: int) -> SuiteReport:
    """Flagged and broken tests over all rounds (each round's leakcheck run
    against the same round's plain run)."""
    flagged: dict[str, dict[str, Any]] = {}
    broken: dict[str, dict[str, Any]] = {}
    plain = {r.round: r.results for r in runs if r.config == "plain"}
    for run in runs:
        if run.config != "leakcheck":
            continue
        base = plain.get(run.round, {})
        for nodeid, result in run.results.items():
            before = base.get(nodeid)
            plain_outcome = before.outcome if before else "not run"
            if result.flagged:
                entry = flagged.setdefault(
                    nodeid,
                    {"rounds": 0, "plain": plain_outcome, "reason": leak_reason(result, lines)},
                )
                entry["rounds"] += 1
            elif result.failed and plain_outcome in _OK:
                entry = broken.setdefault(
                    nodeid, {"rounds": 0, "plain": plain_outcome, "reason": []}
                )
                entry["rounds"] += 1
                entry["reason"] = entry["reason"] or _first_lines(result, lines)
    return SuiteReport(suite, runs, flagged, broken)


def _print_entries(title: str, entries: dict[str, dict[str, Any]], rounds: int) -> None:
    print(f"  {title} ({len(entries)}):")
    for nodeid, entry in sorted(entries.items()):
        extra = "" if entry["plain"] in _OK else f", {entry['plain']} plain too"
        print(f"    {nodeid}  [{entry['rounds']}/{rounds} rounds{extra}]")
        for line in entry["reason"]:
            print(f"        {line}")


def print_report(report: SuiteReport, rounds: int) -> None:
    print(f"\n== {report.suite.key} ({report.suite.requirement}) ==")
    for run in report.runs:
        print(
            f"  round {run.round} {run.config:<9} exit {run.exit_code:>3}  "
            f"{run.cpu:7.1f} s CPU {run.wall:7.1f} s wall  {_describe(run)}"
        )
    ratio = report.cpu_ratio()
    print(f"  CPU --leakcheck / plain: {f'{ratio:.2f}x' if ratio else 'n/a'} (median of rounds)")
    _print_entries("flagged by --leakcheck", report.flagged, rounds)
    _print_entries(
        "broken: pass plain, fail with --leakcheck, no leak report", report.broken, rounds
    )


# -- command line --------------------------------------------------------------


def _number(
    option: str, cast: Callable[[str], Any], ok: Callable[[Any], bool], allowed: str
) -> Any:
    """An argparse type: *raw* cast and checked, or an error naming *option* and what is allowed."""

    def parse(raw: str) -> Any:
        try:
            value = cast(raw)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"{option} must be {allowed}, got {raw!r}")
        return value

    return parse


def _count(option: str) -> Any:
    return _number(option, int, lambda v: v >= 1, "a whole number >= 1")


def _project(raw: str) -> Path:
    path = Path(raw).resolve()
    pyproject = path / "pyproject.toml"
    if not pyproject.is_file() or 'name = "pytest-leakcheck"' not in pyproject.read_text(
        encoding="utf-8"
    ):
        raise argparse.ArgumentTypeError(
            f"--project must be a pytest-leakcheck checkout (a directory whose pyproject.toml "
            f"names pytest-leakcheck), got {raw!r}"
        )
    return path


def _pytest_args(raw: str) -> list[str]:
    try:
        return shlex.split(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--pytest-args {raw!r}: {exc}") from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run real projects' test suites plain and with --leakcheck; compare.",
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=sorted(SUITES),
        help="a suite to run (repeatable; default: all)",
    )
    parser.add_argument(
        "--rounds",
        type=_count("--rounds"),
        default=1,
        help="plain/--leakcheck pairs",
    )
    parser.add_argument(
        "--project",
        type=_project,
        default=REPO,
        help=f"the pytest-leakcheck checkout to install (default: {REPO})",
    )
    parser.add_argument(
        "--ref",
        help="measure this commit of --project (a clean git-archive copy) instead of its "
        "working tree, which may hold uncommitted work",
    )
    parser.add_argument(
        "--workdir",
        default=str(Path(tempfile.gettempdir()) / "leakcheck-peer-suites"),
        help="scratch directory for sdists, venvs and run logs (reused between runs)",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter for the scratch venvs (default: this one)",
    )
    parser.add_argument(
        "--run-timeout",
        type=_number(
            "--run-timeout", float, lambda v: 0 < v < float("inf"), "a finite number of seconds > 0"
        ),
        default=3600.0,
        help="wall-clock bound of one pytest run, seconds (default 3600)",
    )
    parser.add_argument(
        "--nice",
        type=_number("--nice", int, lambda v: 0 <= v <= 19, "a whole number 0..19"),
        default=10,
        help="niceness of the runs (default 10)",
    )
    parser.add_argument(
        "--pytest-args",
        type=_pytest_args,
        default=[],
        help='extra pytest arguments, one string (e.g. "tests/test_x.py -k name")',
    )
    parser.add_argument(
        "--reason-lines",
        type=_count("--reason-lines"),
        default=4,
        help="lines of each leak report or failure to print (default 4)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--no-run",
        action="store_true",
        help="do not run: compare the runs recorded in --workdir by the last invocation",
    )
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=workdir):
            pass
    except OSError as exc:
        parser.error(f"--workdir {args.workdir!r} is not a writable directory: {exc.strerror}")
    args.workdir = str(workdir.resolve())
    try:
        usable = subprocess.call([args.python, "-c", "import venv"], stderr=subprocess.DEVNULL)
    except OSError:
        usable = -1
    if usable != 0:
        parser.error(f"--python {args.python!r} is not a Python interpreter with venv")
    if args.json:
        json_dir = Path(args.json).resolve().parent
        if not json_dir.is_dir():
            parser.error(f"--json {args.json!r}: directory {json_dir} does not exist")
    return args


def _git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(project), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def export_ref(project: Path, ref: str, workdir: Path) -> tuple[Path, str]:
    """A clean copy of *project* at *ref* (``git archive``: the checkout is only read),
    and the commit's short hash; raises SetupError when *ref* is not a commit there."""
    try:
        sha = _git(project, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except (OSError, subprocess.CalledProcessError):
        raise SetupError(f"--ref {ref!r} is not a commit of the git checkout {project}") from None
    dest = workdir / "projects" / sha[:12]
    if not (dest / "pyproject.toml").is_file():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(project), "archive", "--format=tar", sha],
            capture_output=True,
            check=True,
        )
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            _extract(tar, dest)
    return dest, sha[:12]


def _commit(project: Path) -> tuple[str, str]:
    """A short label of the checkout's state (names its runs directory) and a description:
    the commit, the last one that changed the plugin, and ``+dirty`` when the plugin has
    uncommitted changes (the editable install runs them)."""
    try:
        head = _git(project, "rev-parse", "--short=12", "HEAD")
        plugin = _git(project, "log", "-1", "--format=%h", "--", "pytest_leakcheck")
        dirty = _git(project, "status", "--porcelain", "--", "pytest_leakcheck")
    except (OSError, subprocess.CalledProcessError):
        return "not-git", "unknown (not a git checkout)"
    label = f"{head}-dirty" if dirty else head
    return label, f"{head} (plugin last changed in {plugin}){' +dirty' if dirty else ''}"


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so that a running pytest tree is killed, not orphaned


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    keys = list(dict.fromkeys(args.suite or SUITES))
    if args.ref:
        try:
            args.project, label = export_ref(args.project, args.ref, Path(args.workdir))
        except SetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        commit = f"{label} (--ref {args.ref})"
    else:
        label, commit = _commit(args.project)
    # One directory of runs per plugin state: measuring a fix keeps the runs before it.
    args.runs_dir = str(Path(args.workdir) / "runs" / label)
    print(f"plugin: {args.project} at {commit}; runs in {args.runs_dir}", flush=True)
    reports: list[SuiteReport] = []
    for key in keys:
        suite = SUITES[key]
        if args.no_run:
            runs = recorded_runs(suite, Path(args.runs_dir))
            if not runs:
                print(f"[{key}] --no-run: no recorded runs in {args.runs_dir}", file=sys.stderr)
                return 2
        else:
            try:
                runs = run_suite(suite, args)
            except SetupError as exc:
                print(f"[{key}] setup failed: {exc}", file=sys.stderr)
                return 2
        report = compare(suite, runs, args.reason_lines)
        print_report(report, max(run.round for run in runs))
        reports.append(report)
    if args.json:
        data = {
            "plugin": {"project": str(args.project), "commit": commit},
            "python": subprocess.run(
                [args.python, "-c", "import sys; print(sys.version.split()[0])"],
                capture_output=True,
                text=True,
            ).stdout.strip(),
            "rounds": args.rounds,
            "pytest_args": args.pytest_args,
            "suites": [r.to_dict() for r in reports],
        }
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
