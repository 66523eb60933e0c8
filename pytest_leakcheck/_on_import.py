"""Patch a module the moment it is imported, or now if it already is.

trio and uvloop need not be imported when checking starts (most suites use
neither, and importing them would cost every run): a finder placed first on
``sys.meta_path`` wraps the module's loader, so the patch runs right after
the module's own code, before anyone can use it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

__all__ = ["Patch", "when_imported"]

#: Patches a module; returns the undo.
Patch = Callable[[ModuleType], Callable[[], None]]


class _PatchOnImport(MetaPathFinder):
    """Wrap one module's loader so *patch* runs as soon as it is imported."""

    def __init__(self, name: str, patch: Patch) -> None:
        self.name = name
        self.patch = patch
        self.undo: Callable[[], None] = lambda: None

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(loader, self)
        return spec


class _PatchingLoader(Loader):
    def __init__(self, loader: Loader, hook: _PatchOnImport) -> None:
        self._loader = loader
        self._hook = hook

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        with contextlib.suppress(Exception):  # our patch must never break an import
            self._hook.undo = self._hook.patch(module)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ...
        return getattr(self._loader, name)


def when_imported(name: str, patch: Patch) -> Callable[[], None]:
    """Run *patch* on module *name* now if imported, else when it is; returns the undo."""
    module = sys.modules.get(name)
    if module is not None:
        return patch(module)
    hook = _PatchOnImport(name, patch)
    sys.meta_path.insert(0, hook)

    def undo() -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(hook)
        hook.undo()

    return undo
