"""Resource caps of a criterion process: their values, how they are set, how a hit reads.

Memory, CPU time and open files are kernel limits (``setrlimit``) that the
worker sets on itself before the submission is imported. Processes/threads
cannot be: ``RLIMIT_NPROC`` counts every process of the *user* (a desktop
session is hundreds) and is not enforced at all for root. So that cap is
counted instead, over the worker's session (the worker is a session leader,
and what the submission starts joins its session): the worker refuses a new
process once the session holds the cap, and the parent kills the whole
session if it still grows past it (threads too, which Python < 3.13 cannot
audit). Counting reads ``/proc``, so it exists on Linux only.

Each soft limit is the cap; the hard limit leaves a little room above it,
which the worker takes back (:func:`relax`) to write its verdict after the
submission hit a cap: a verdict that cannot be written is a lost verdict.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from dataclasses import dataclass

GIB = 1 << 30
MIB = 1 << 20
MEMORY_HEADROOM = 64 * MIB
"""Address space above the cap (up to the hard limit) for writing the verdict."""
FILES_HEADROOM = 16
"""Descriptors above the cap, for the same reason."""
CPU_HEADROOM = 2
"""Seconds between SIGXCPU at the cap and the kernel's SIGKILL at the hard limit."""

_UNITS = {"": 1, "k": 1 << 10, "m": MIB, "g": GIB}
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Caps:
    """The caps of one criterion process (the worker and everything it starts)."""

    memory: int = GIB
    """Bytes of address space (``RLIMIT_AS``): what the process may map, thread stacks included."""
    cpu: int = 60
    """CPU seconds (``RLIMIT_CPU``) of each process, summed over its threads."""
    tasks: int = 128
    """Threads plus processes, counted over the worker's session."""
    files: int = 256
    """Open file descriptors (``RLIMIT_NOFILE``) of each process."""

    def to_args(self) -> list[str]:
        """The worker's command-line form (see :func:`from_args`)."""
        return [f"--cap={self.memory},{self.cpu},{self.tasks},{self.files}"]

    @classmethod
    def from_arg(cls, text: str) -> Caps:
        """Inverse of :meth:`to_args` (the part after ``--cap=``)."""
        memory, cpu, tasks, files = (int(part) for part in text.split(","))
        return cls(memory, cpu, tasks, files)

    def memory_reason(self) -> str:
        """What a criterion that ran out of memory is told."""
        return f"exceeded the {size_text(self.memory)} memory cap"

    def cpu_reason(self) -> str:
        """What a criterion that burned its CPU time is told."""
        return f"exceeded the {self.cpu} s CPU time cap"

    def tasks_reason(self) -> str:
        """What a criterion that started too many threads or processes is told."""
        return f"exceeded the {self.tasks} processes/threads cap"

    def files_reason(self) -> str:
        """What a criterion that opened too many files or sockets is told."""
        return f"exceeded the {self.files} open files cap"


def size_text(size: int) -> str:
    """``1073741824`` -> ``"1 GiB"``; ``1536 MiB`` stays in MiB (no rounding)."""
    for unit, factor in (("GiB", GIB), ("MiB", MIB), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def parse_size(text: str) -> int:
    """``"1G"``, ``"512MiB"``, ``"800m"``, ``"1073741824"`` -> bytes; ValueError otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (like 512M or 2G)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def apply(caps: Caps) -> None:
    """Set the kernel limits on this process (the worker, before the submission loads).

    Where a limit does not exist (Windows has no ``resource`` module; macOS
    accepts ``RLIMIT_AS`` but does not enforce it) it is skipped: the wall-clock
    limit still bounds the criterion.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        return
    _set(resource.RLIMIT_AS, caps.memory, caps.memory + MEMORY_HEADROOM)
    _set(resource.RLIMIT_CPU, caps.cpu, caps.cpu + CPU_HEADROOM)
    _set(resource.RLIMIT_NOFILE, caps.files, caps.files + FILES_HEADROOM)
    _set(resource.RLIMIT_CORE, 0, 0)  # a crash must not leave a core file behind


def relax() -> None:
    """Raise the memory and file soft limits to their hard limits, to write the verdict."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        return
    for which in (resource.RLIMIT_AS, resource.RLIMIT_NOFILE):
        _soft, hard = resource.getrlimit(which)
        with contextlib.suppress(OSError, ValueError):  # lowered by the submission
            resource.setrlimit(which, (hard, hard))


def _set(which: int, soft: int, hard: int) -> None:
    import resource

    _old_soft, old_hard = resource.getrlimit(which)
    if old_hard != resource.RLIM_INFINITY:  # never above what we were given
        soft, hard = min(soft, old_hard), min(hard, old_hard)
    with contextlib.suppress(OSError, ValueError):  # a platform that refuses this limit
        resource.setrlimit(which, (soft, hard))


def tasks_by_session() -> dict[int, int] | None:
    """Threads per session id, over every process (Linux: ``/proc``); None where unknown.

    A process's threads count as ``num_threads``; a zombie still holds its pid,
    so it counts as one.
    """
    if not sys.platform.startswith("linux"):
        return None
    counts: dict[int, int] = {}
    try:
        pids = os.listdir("/proc")
    except OSError:  # pragma: no cover - /proc not mounted
        return None
    for pid in pids:
        if not pid.isdigit():
            continue
        try:  # os-level calls: this runs every few tenths of a second in the grader
            fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        except OSError:  # gone in the meantime
            continue
        try:
            stat = os.read(fd, 4096)
        except OSError:  # pragma: no cover - gone while reading
            continue
        finally:
            os.close(fd)
        # Fields after the command name (which may hold spaces and parentheses):
        # state ppid pgrp session ... num_threads is the 18th of them.
        fields = stat[stat.rfind(b")") + 2 :].split()
        try:
            session, threads = int(fields[3]), int(fields[17])
        except (IndexError, ValueError):  # pragma: no cover - a format we do not know
            continue
        counts[session] = counts.get(session, 0) + max(threads, 1)
    return counts


def session_tasks(session: int) -> int | None:
    """Threads plus processes in *session* now; None where this cannot be counted."""
    counts = tasks_by_session()
    return None if counts is None else counts.get(session, 0)


_MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "can't start new thread")
_FILES_SIGNS = ("Too many open files",)


def cap_hit(text: str, caps: Caps) -> str | None:
    """The cap a failure's text shows was hit (its reason), or None.

    By the text because the criteria report what the submission raised as text
    (the exception itself is gone), and a dead process leaves only its output.
    Under the caps, ``MemoryError`` is the address-space cap (so is a thread
    that cannot start: its stack is address space), ``EMFILE`` the files cap.
    """
    if any(sign in text for sign in _MEMORY_SIGNS):
        return caps.memory_reason()
    if any(sign in text for sign in _FILES_SIGNS):
        return caps.files_reason()
    return None
