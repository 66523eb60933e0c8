"""OS threads: the ones no Python API lists (started by C code), on Linux.

``/proc/self/task`` has one entry per OS thread. Listing it on every check
costs more than the rest of a clean check, so the common case is answered
from its link count (2 + the number of OS threads) read through a descriptor
kept open: one ``fstat``, no path walk through ``/proc/self``. Only when an
OS thread is not accounted for by a Python thread is the directory listed.
"""

from __future__ import annotations

import os
import threading
from os import fstat, getpid
from typing import Any

__all__ = [
    "READ_NOW",
    "native_name",
    "native_thread_ids",
    "only_python_threads",
    "os_thread_count",
    "os_thread_ids",
]

_PROC_TASKS = "/proc/self/task"


def native_thread_ids() -> frozenset[int] | None:
    """OS thread ids of this process (Linux), or None where unavailable."""
    try:
        return frozenset(int(name) for name in os.listdir(_PROC_TASKS))
    except (OSError, ValueError):
        return None


def native_name(tid: int) -> str:
    """The OS thread's name (``comm``), or "?"."""
    try:
        with open(f"{_PROC_TASKS}/{tid}/comm", encoding="utf-8", errors="replace") as fh:
            return fh.read().strip() or "?"
    except OSError:
        return "?"


class _TaskDirectory:
    """``/proc/self/task`` held open, for its link count.

    Reopened after a fork (the descriptor would name the parent's directory)
    and whenever the descriptor no longer names the directory it was opened
    on (closed, or its number reused by someone else's file, which is then
    left alone).
    """

    def __init__(self) -> None:
        self._fd = -1
        self._pid = 0
        self._identity = (0, 0)
        self._lock = threading.Lock()

    def thread_count(self) -> int | None:
        """How many OS threads this process has now (None: no ``/proc``)."""
        if self._pid == getpid():
            try:
                st = fstat(self._fd)
            except OSError:
                pass
            else:
                if st.st_ino == self._identity[1] and st.st_dev == self._identity[0]:
                    return st.st_nlink - 2
        with self._lock:
            return self._reopen()

    def _reopen(self) -> int | None:
        if self._fd >= 0:
            try:
                st = os.fstat(self._fd)
                if (st.st_dev, st.st_ino) == self._identity:
                    os.close(self._fd)
            except OSError:
                pass
            self._fd = -1
        try:
            # Not inherited across exec (os.open's default, PEP 446).
            fd = os.open(_PROC_TASKS, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return None
        st = os.fstat(fd)
        self._fd, self._pid, self._identity = fd, os.getpid(), (st.st_dev, st.st_ino)
        return st.st_nlink - 2


_TASK_DIRECTORY = _TaskDirectory()


def os_thread_count() -> int | None:
    """How many OS threads this process has now (None: no ``/proc``)."""
    return _TASK_DIRECTORY.thread_count()


#: "Read the count now" (a caller that has just read it passes it instead).
READ_NOW = -1


def only_python_threads(
    frames: dict[int, Any], threads: list[threading.Thread], count: int | None = READ_NOW
) -> bool | None:
    """Is every OS thread one that ``threading`` lists (None: no ``/proc``)?

    *frames* is ``sys._current_frames()`` and *threads* ``threading.enumerate()``.
    Every thread with a Python frame is a live OS thread, so when the counts
    match and the threads with frames are exactly the ones ``threading``
    lists, there is no other OS thread. Anything else (a C thread, a
    ``_thread`` thread, one starting or exiting) answers False.
    """
    if count == READ_NOW:
        count = _TASK_DIRECTORY.thread_count()
    if count is None:
        return None
    if count != len(frames) or count != len(threads):
        return False
    for thread in threads:  # noqa: SIM110 (a generator costs a resumption per thread)
        if thread.ident not in frames or thread.native_id is None:
            return False
    return True


def os_thread_ids(
    frames: dict[int, Any], threads: list[threading.Thread], count: int | None = READ_NOW
) -> frozenset[int] | None:
    """:func:`native_thread_ids`, without listing ``/proc`` in the common case
    (:func:`only_python_threads`: their native ids are the whole answer)."""
    only = only_python_threads(frames, threads, count)
    if only is None:
        return None
    if only:
        return frozenset(t.native_id for t in threads)  # type: ignore[misc]
    return native_thread_ids()
