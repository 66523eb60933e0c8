"""Validate the ``urls`` argument up front, then hand the items out lazily.

Two requirements pull against each other: a bad item must raise TypeError
*before any request starts*, yet 100,000 URLs must not cost 100,000 of
anything beyond what the caller already holds. The reconciliation:

* A **collection** (list, tuple, set, dict keys, ... : anything with
  ``__len__`` that can be iterated again) is checked in a first pass that
  keeps nothing, then iterated a second time, lazily, by the workers. No
  copy is made. Each item is checked again as it is taken, so a collection
  mutated during the block fails loudly instead of fetching garbage.
* A **one-shot iterable** (a generator, ``iter(...)``, a file) cannot be
  read twice, so it is read once into a list while being checked. That list
  is the price of "TypeError before any request" for a one-shot input; it is
  O(N) references, never O(N) tasks. An infinite generator cannot be
  validated and is not supported (use batches).

Either way the workers pull one URL at a time from a shared iterator, so
live tasks stay O(max_concurrency).
"""

from __future__ import annotations

import reprlib
from collections.abc import Collection, Iterable, Iterator

import httpx

__all__ = ["UrlSource", "prepare_urls"]

_short = reprlib.Repr()
_short.maxstring = 80
_short.maxother = 80


class UrlSource:
    """The validated input: its length, and the lazy iterator workers share."""

    def __init__(self, items: Collection[object]) -> None:
        self._items = items
        self.count = len(items)

    def __iter__(self) -> Iterator[str]:
        # Sharing one generator between tasks is safe: next() never awaits,
        # so no two tasks are ever inside it at once.
        for index, item in enumerate(self._items):
            yield _coerce(item, index)


def prepare_urls(urls: object) -> UrlSource:
    """Check *urls* completely, raising a TypeError that names the bad item."""
    if isinstance(urls, (str, bytes, bytearray, memoryview, httpx.URL)):
        raise TypeError(
            f"urls must be an iterable of URLs, not a single {type(urls).__name__} "
            f"({_short.repr(urls)}); to fetch one URL pass a list: [url]"
        )
    if not isinstance(urls, Iterable):
        hint = (
            " (async iterables are not supported: collect the URLs first)"
            if hasattr(urls, "__aiter__")
            else ""
        )
        raise TypeError(
            f"urls must be an iterable of str or httpx.URL, got {type(urls).__name__}: "
            f"{_short.repr(urls)}{hint}"
        )
    if isinstance(urls, Collection) and not isinstance(urls, Iterator):
        for index, item in enumerate(urls):
            _coerce(item, index)
        return UrlSource(urls)
    return UrlSource([_coerce(item, index) for index, item in enumerate(urls)])


def _coerce(item: object, index: int) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, httpx.URL):
        return str(item)
    raise TypeError(
        f"urls[{index}] must be a str or httpx.URL, got {type(item).__name__}: {_short.repr(item)}"
    )
