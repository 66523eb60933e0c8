"""A weak-keyed map for keys made by the thousand: tasks and threads.

``weakref.WeakKeyDictionary`` costs, per entry, a Python-level
``__setitem__``, a weak reference with a callback, and a Python call of that
callback when the key dies: for a task started and finished, most of what
recording its origin costs. Here an entry is (weak reference, value) under
``id(key)``, the reference without callback. An entry whose key died stays
until the next prune, which runs when the map has doubled since the last
one: the map holds at most about twice its live keys plus a constant (it
never grows with the session), and pruning is O(1) per insert, amortized.
"""

from __future__ import annotations

import weakref
from typing import Any, Generic, TypeVar

__all__ = ["WeakIdMap"]

K = TypeVar("K")
V = TypeVar("V")

_FLOOR = 1024


class WeakIdMap(Generic[K, V]):
    """``key -> value`` without keeping *key* alive; only ``get`` and ``[]=``."""

    __slots__ = ("_data", "_prune_at")

    def __init__(self) -> None:
        self._data: dict[int, tuple[weakref.ref[Any], V]] = {}
        self._prune_at = _FLOOR

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        # An id is reused only once its object is gone: overwriting is right.
        data[id(key)] = (weakref.ref(key), value)
        if len(data) > self._prune_at:
            self._prune()

    def get(self, key: K, default: V | None = None) -> V | None:
        entry = self._data.get(id(key))
        if entry is not None and entry[0]() is key:
            return entry[1]
        return default

    def __contains__(self, key: object) -> bool:
        entry = self._data.get(id(key))
        return entry is not None and entry[0]() is key

    def __len__(self) -> int:
        """Live entries (pruning the dead ones first)."""
        self._prune()
        return len(self._data)

    def _prune(self) -> None:
        data = self._data
        # list() copies under the GIL: other threads may insert meanwhile.
        for ident, entry in list(data.items()):
            if entry[0]() is None and data.get(ident) is entry:
                popped = data.pop(ident, None)
                if popped is not None and popped is not entry:  # replaced just now
                    data.setdefault(ident, popped)
        self._prune_at = max(_FLOOR, 2 * len(data))
