"""The pure parts of the isolation: cap values and texts, the guard's address rules."""

from __future__ import annotations

import os

import pytest

from leakcheck_kata import guard
from leakcheck_kata.isolation import default_jobs
from leakcheck_kata.limits import GIB, Caps, cap_hit, parse_size, size_text


@pytest.mark.parametrize(
    ("text", "size"),
    [("1G", GIB), ("1GiB", GIB), ("512m", 512 << 20), ("800 MB", 800 << 20), ("4096", 4096)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1G", "1.5G", "1T"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


def test_size_text_and_reasons() -> None:
    assert size_text(GIB) == "1 GiB"
    assert size_text(1536 << 20) == "1536 MiB"
    assert size_text(1000) == "1000 bytes"
    caps = Caps()
    assert caps.memory_reason() == "exceeded the 1 GiB memory cap"
    assert caps.cpu_reason() == "exceeded the 60 s CPU time cap"
    assert caps.tasks_reason() == "exceeded the 128 processes/threads cap"
    assert caps.files_reason() == "exceeded the 256 open files cap"


def test_caps_travel_to_the_worker() -> None:
    caps = Caps(300 << 20, 5, 16, 64)
    (arg,) = caps.to_args()
    assert Caps.from_arg(arg.removeprefix("--cap=")) == caps


def test_cap_hit_reads_the_failure() -> None:
    caps = Caps()
    assert cap_hit("MemoryError raised out of the block", caps) == caps.memory_reason()
    assert cap_hit("RuntimeError: can't start new thread", caps) == caps.memory_reason()
    assert cap_hit("[Errno 24] Too many open files", caps) == caps.files_reason()
    assert cap_hit("ValueError: nope", caps) is None


def test_default_jobs_is_the_usable_cpu_count() -> None:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_jobs() == usable


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        (("127.0.0.1", 80), True),
        (("::1", 80, 0, 0), True),
        (("localhost", 80), True),
        ("/run/some.sock", True),
        (("192.0.2.1", 80), False),
        (("2001:db8::1", 443, 0, 0), False),
        (("kata.invalid", 80), False),
    ],
)
def test_which_connections_are_local(address: object, loopback: bool) -> None:
    assert guard._is_loopback(address) is loopback


def test_which_lookups_are_no_lookup() -> None:
    assert guard._is_local_name("localhost")
    assert guard._is_local_name("192.0.2.1")  # numeric: nothing is looked up
    assert not guard._is_local_name("example.invalid")
    assert guard._show(("2001:db8::1", 443, 0, 0)) == "[2001:db8::1]:443"
