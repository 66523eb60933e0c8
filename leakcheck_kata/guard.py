"""Refuse what a submission must not do inside the worker, and remember it as evidence.

An audit hook (``sys.addaudithook``, PEP 578) sees every socket connect and
name lookup, every file opened for writing and every process started, before
it happens, and raising in the hook refuses it: the caller gets a
``PermissionError``, like a real sandbox's refusal, and no packet leaves and
no byte is written. What is refused:

- network: a connect or send to anything but loopback, and name lookups of
  anything but a loopback name (a lookup already leaks the name to a DNS
  server). The criteria's HTTP traffic never reaches a socket: respx serves it.
- files: creating, writing, renaming or removing anything outside the worker's
  working directory (a fresh temporary one; relative paths land there).
- processes: starting one once the session already holds the processes/threads
  cap (threads too on Python 3.13+, which audits thread starts).

This is a seatbelt for mistakes and careless answers, not a security
boundary: code that calls the C library directly (ctypes) bypasses it.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .limits import Caps, session_tasks

_CONNECT = ("socket.connect", "socket.sendto", "socket.sendmsg")
_LOOKUP = ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex")
_SPAWN = (
    "os.fork",
    "os.forkpty",
    "os.posix_spawn",
    "os.spawn",
    "os.system",
    "subprocess.Popen",
    "_thread.start_new_thread",
    "_thread.start_joinable_thread",
)
_TWO_PATHS = ("os.rename", "os.symlink", "os.link")
"""Events whose first two arguments are paths (a hard link to a file outside would let
writes reach it; a rename moves something in or out)."""
_CHANGE = ("os.remove", "os.rmdir", "os.mkdir", "os.truncate", *_TWO_PATHS)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_LOCAL_NAMES = ("localhost", "localhost.", "ip6-localhost")
STACK_FRAMES = 8
"""Frames of the refused call kept as evidence: enough to see the submission's line."""


@dataclass(frozen=True)
class Refusal:
    """One refused action: the one-line reason and where it was attempted."""

    reason: str
    where: str


class Guard:
    """The worker's audit hook and what it refused (first refusal first)."""

    def __init__(self, caps: Caps, workdir: Path, own_files: tuple[Path, ...]) -> None:
        """*own_files*: the grader's own files outside *workdir* (the verdict file)."""
        self.caps = caps
        self.refused: list[Refusal] = []
        self._workdir = os.path.realpath(workdir)
        self._own = {os.path.realpath(p) for p in own_files}
        self._lock = threading.Lock()
        self._session = os.getsid(0) if hasattr(os, "getsid") else 0

    def install(self) -> None:
        """From now on, for the rest of this process (audit hooks cannot be removed)."""
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event in _CONNECT:
            address = args[1]  # (socket, address); None for a send on a connected socket
            if not _is_loopback(address):
                verb = "connect to" if event == "socket.connect" else "send to"
                self._refuse(f"network access refused: {verb} {_show(address)}")
        elif event in _LOOKUP:
            host = args[0]
            if isinstance(host, (str, bytes)) and not _is_local_name(host):
                self._refuse(f"network access refused: DNS lookup of {_text(host)}")
        elif event == "open":
            path, mode, flags = args
            if _writes(mode, flags) and not self._writable(path):
                self._refuse(f"file write refused: {_text(path)} is outside the working directory")
        elif event in _CHANGE:
            for path in args[:2] if event in _TWO_PATHS else args[:1]:
                if not self._writable(path):
                    self._refuse(
                        f"file change refused: {event} {_text(path)} is outside the working "
                        "directory"
                    )
        elif event in _SPAWN:
            count = session_tasks(self._session)
            if count is not None and count >= self.caps.tasks:
                self._refuse(f"{self.caps.tasks_reason()} ({event} refused with {count} running)")

    def _writable(self, path: Any) -> bool:
        if isinstance(path, int) or path is None:
            return True  # a descriptor already open: judged when it was opened
        # realpath: /tmp may be a symlink (macOS), and a symlink may point outside
        full = os.path.realpath(os.fsdecode(path))
        if full in self._own or full == os.devnull:
            return True
        return full == self._workdir or full.startswith(self._workdir + os.sep)

    def _refuse(self, reason: str) -> None:
        where = "".join(traceback.format_stack(limit=STACK_FRAMES + 2)[:-2])
        with self._lock:
            self.refused.append(Refusal(reason, where))
        raise PermissionError(errno.EACCES, f"leakcheck-kata: {reason}")

    def evidence(self) -> str:
        """Every refusal, each with where it was attempted; "" if none."""
        with self._lock:
            refused = list(self.refused)
        return "\n".join(f"refused: {r.reason}\n{r.where}" for r in refused)


def _writes(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str):
        return any(ch in mode for ch in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX path (or abstract name): local
        return True
    try:
        return ipaddress.ip_address(_text(address[0])).is_loopback
    except ValueError:  # a name: connect() would look it up, which is itself refused
        return _is_local_name(address[0])


def _is_local_name(host: str | bytes) -> bool:
    name = _text(host).lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True  # a numeric address is no lookup; connecting to it is judged by connect


def _show(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = _text(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return _text(address)


def _text(value: Any) -> str:
    return os.fsdecode(value) if isinstance(value, (str, bytes)) else str(value)
