"""Load a submission and check it follows the fetcher contract's shape.

Every problem becomes a one-line :class:`SubmissionError` naming what is wrong
("syntax error in x.py line 3: ..."), because the person reading it wrote the
submission, not the grader: our traceback would only be noise to them.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .model import SubmissionError

REFERENCE = "fetcher:DataFetcher"
RESULT_FIELDS = ("url", "body", "error")


@dataclass(frozen=True)
class Submission:
    """A loaded submission: its DataFetcher class and, if it exports one, its Result."""

    target: str
    fetcher_cls: type[Any]
    result_cls: type[Any] | None

    def make(self, client: Any = None, max_concurrency: int | None = None) -> Any:
        """Construct a DataFetcher the way the contract's callers do."""
        return self.fetcher_cls(client, max_concurrency=max_concurrency)


def describe(target: str | None) -> str:
    """How the target is shown in reports (the reference gets its real name)."""
    return target if target else f"{REFERENCE} (bundled reference)"


def load(target: str | None) -> Submission:
    """Import *target* (a .py path or ``package.module[:Name]``) and validate it."""
    spec = target or REFERENCE
    module, attr = (_import_reference(), "DataFetcher") if target is None else _import(spec)
    if not hasattr(module, attr):
        raise SubmissionError(f"{spec}: the module defines no {attr}")
    fetcher_cls = getattr(module, attr)
    if not inspect.isclass(fetcher_cls):
        raise SubmissionError(f"{spec}: {attr} must be a class, got {type(fetcher_cls).__name__}")
    _check_constructor(spec, attr, fetcher_cls)
    _check_fetch(spec, fetcher_cls)
    result_cls = getattr(module, "Result", None)
    if result_cls is not None:
        _check_result(spec, result_cls)
    return Submission(spec, fetcher_cls, result_cls if inspect.isclass(result_cls) else None)


def split_target(spec: str) -> tuple[str, str, bool]:
    """``"x.py:Name"`` -> ``("x.py", "Name", False)``: where, which class, a module name?"""
    where, attr = spec, "DataFetcher"
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail.isidentifier():
        where, attr = head, tail
    return where, attr, _is_module_name(where)


def _import(spec: str) -> tuple[ModuleType, str]:
    where, attr, is_module = split_target(spec)
    if is_module:
        return _import_module(where), attr
    return _import_file(Path(where)), attr


def _import_reference() -> ModuleType:
    """The bundled reference package, found beside this one, never by the import path.

    The import path starts with the current folder, where a user grading their
    own answer may well have a ``fetcher.py``: it must not stand in for the
    reference. Both packages are installed side by side (one distribution).
    """
    home = Path(__file__).resolve().parent.parent / "fetcher"
    init = home / "__init__.py"
    if not init.is_file():
        raise SubmissionError(
            f"the bundled reference is not installed (no {init}); reinstall pytest-leakcheck"
        )
    loaded = sys.modules.get("fetcher")
    if loaded is not None and Path(getattr(loaded, "__file__", None) or "").resolve() == init:
        return loaded
    for name in [n for n in sys.modules if n == "fetcher" or n.startswith("fetcher.")]:
        del sys.modules[name]  # a stand-in imported earlier from elsewhere
    spec = importlib.util.spec_from_file_location(
        "fetcher", init, submodule_search_locations=[str(home)]
    )
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise SubmissionError(f"cannot import the bundled reference from {home}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fetcher"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop("fetcher", None)
        raise SubmissionError(_import_failure(str(home), exc)) from None
    return module


def _is_module_name(where: str) -> bool:
    if where.endswith(".py") or os.sep in where or (os.altsep and os.altsep in where):
        return False
    return all(part.isidentifier() for part in where.split("."))


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except SyntaxError as exc:
        raise SubmissionError(_syntax_message(exc)) from None
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise SubmissionError(f"no module named {name!r}") from None
        raise SubmissionError(_import_failure(name, exc)) from None
    except BaseException as exc:  # SystemExit, KeyboardInterrupt too: say what happened
        raise SubmissionError(_import_failure(name, exc)) from None


def check_file(path: Path) -> None:
    """Raise the SubmissionError for a file target that is missing or not a file."""
    if not path.exists():
        raise SubmissionError(f"file not found: {path}")
    if not path.is_file():
        raise SubmissionError(f"not a file: {path}")


def _import_file(path: Path) -> ModuleType:
    check_file(path)
    try:
        source = path.read_bytes()
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise SubmissionError(_syntax_message(exc)) from None
    except (OSError, ValueError) as exc:
        raise SubmissionError(f"cannot read {path}: {exc}") from None
    name = f"kata_submission_{_safe(path.stem)}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise SubmissionError(f"cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    # Registered before executing so dataclasses and pickling can find the module;
    # the file's own folder is importable so a submission may import its siblings.
    sys.modules[name] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        raise SubmissionError(_import_failure(str(path), exc)) from None
    return module


def _safe(stem: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in stem)


def _syntax_message(exc: SyntaxError) -> str:
    where = f"{exc.filename} line {exc.lineno}" if exc.lineno else str(exc.filename)
    return f"syntax error in {where}: {exc.msg}"


def _import_failure(what: str, exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    line = f" (line {frames[-1].lineno} of {frames[-1].filename})" if frames else ""
    return f"importing {what} raised {type(exc).__name__}: {exc}{line}"


def _check_constructor(spec: str, attr: str, cls: type[Any]) -> None:
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return  # a C-implemented or exotic class: the criteria will find out
    for args, kwargs in (((), {}), ((None,), {}), ((None,), {"max_concurrency": 3})):
        try:
            sig.bind(*args, **kwargs)
        except TypeError:
            raise SubmissionError(
                f"{spec}: wrong signature {attr}{sig}; the contract is "
                f"{attr}(client=None, *, max_concurrency=None)"
            ) from None


def _check_fetch(spec: str, cls: type[Any]) -> None:
    fetch = getattr(cls, "fetch", None)
    if fetch is None or not callable(fetch):
        raise SubmissionError(f"{spec}: DataFetcher has no fetch() method")
    if inspect.iscoroutinefunction(fetch):
        raise SubmissionError(
            f"{spec}: DataFetcher.fetch is 'async def', so it returns a coroutine; it must "
            "return an async context manager (async with fetcher.fetch(urls) as results)"
        )
    if inspect.isasyncgenfunction(fetch):
        raise SubmissionError(
            f"{spec}: DataFetcher.fetch is an async generator; it must return an async "
            "context manager (async with fetcher.fetch(urls) as results), which can close "
            "its producers deterministically"
        )
    try:
        sig = inspect.signature(fetch)
        sig.bind(object(), ["https://kata.test/"])
    except (TypeError, ValueError) as exc:
        if isinstance(exc, TypeError):
            raise SubmissionError(
                f"{spec}: wrong signature fetch{inspect.signature(fetch)}; the contract is "
                "fetch(self, urls)"
            ) from None


async def check_manager(sub: Submission) -> None:
    """``DataFetcher().fetch([])`` returns an async context manager; called in a running loop.

    A valid answer may need the loop in ``fetch()`` itself (``asyncio.get_running_loop()``,
    an ``anyio`` primitive), as every real caller has one: so the call is made here,
    inside the loop the criteria run on, and never at import or load time.
    """
    try:
        manager = sub.make().fetch([])
    except Exception as exc:
        raise SubmissionError(
            f"{sub.target}: calling DataFetcher().fetch([]) outside the block raised "
            f"{type(exc).__name__}: {exc} (fetching must start on entering the block)"
        ) from None
    kind = type(manager)
    if not (hasattr(kind, "__aenter__") and hasattr(kind, "__aexit__")):
        if inspect.iscoroutine(manager):
            manager.close()
        raise SubmissionError(
            f"{sub.target}: DataFetcher.fetch() returned {kind.__name__}, not an async context "
            "manager (async with fetcher.fetch(urls) as results)"
        )


def _check_result(spec: str, cls: Any) -> None:
    if dataclasses.is_dataclass(cls):
        names = {f.name for f in dataclasses.fields(cls)}
    else:
        names = set(getattr(cls, "_fields", ()))
        for klass in getattr(cls, "__mro__", ()):
            names.update(getattr(klass, "__annotations__", {}))
            names.update(vars(klass))
    missing = [n for n in RESULT_FIELDS if n not in names]
    if missing:
        raise SubmissionError(f"{spec}: Result lacks {', '.join(missing)} (needs url, body, error)")
