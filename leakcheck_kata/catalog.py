"""The nine public criteria, by id: names, pass conditions and hard time limits.

The limits are per criterion process. They are generous for a correct
submission (which needs a second or two) but bound a broken one that waits on
a slow URL, so grading one file stays well under a minute.
"""

from __future__ import annotations

from .model import Criterion

CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "C1",
        "complete",
        "exactly one Result per input URL (duplicates included), right bodies, error None: "
        "given client, no limit; client=None, max_concurrency=3, one-shot generator; empty list",
        20.0,
    ),
    Criterion(
        "C2",
        "streaming",
        "3 fast URLs and 1 slow (1 s): the first Result arrives while the slow fetch is in flight",
        20.0,
    ),
    Criterion(
        "C3",
        "errors as results",
        "OK, 500, 404, connect error, read timeout mixed: nothing raised; non-2xx -> "
        "HTTPStatusError with that status, body None; connect error -> httpx.ConnectError, "
        "timeout -> any httpx.TimeoutException; siblings unaffected",
        20.0,
    ),
    Criterion(
        "C4",
        "bounded concurrency",
        "peak requests in flight equals k exactly for k=4 and k=1; k=None -> all at once",
        20.0,
    ),
    Criterion(
        "C5",
        "forgotten sender",
        "take one Result and leave: 1 fast among 49 slow (5 s) by break and by a cancelled "
        "scope; k=5 with 40 fast URLs by break once the buffer is full (producers blocked on "
        "send); __aexit__ returns within 0.25 s; no leaked task/thread, no request in flight "
        "then and 0.5 s later; a hang is graded after 3 s",
        25.0,
    ),
    Criterion(
        "C6",
        "cancel before first receive",
        "never receive; cancel by CancelScope.cancel(), move_on_after, Task.cancel(), "
        "asyncio.timeout, each twice: at once (20 slow URLs) and at ~0.15 s once 10 fast URLs "
        "are answered (producers blocked on send): each ends cleanly within 0.25 s, no other "
        "exception, nothing left running when the block is left",
        25.0,
    ),
    Criterion(
        "C7",
        "close discipline",
        "dozens of jittered iterations cancelling from several places at nearly the same "
        "instant: never ClosedResourceError, BrokenResourceError, RuntimeError or "
        "ExceptionGroup; no leak",
        30.0,
    ),
    Criterion(
        "C8",
        "partial results",
        "5 fast + 5 slow, cancel at 0.4 s or 0.25 s after the last fast URL was answered, "
        "if later (3 ways): exactly the 5 completed Results were "
        "received before the cancel, intact (a hang or an error on the way out is C6/C7's)",
        20.0,
    ),
    Criterion(
        "C9",
        "consumer exception",
        "an exception raised in the body (right after entering, after the first Result, once "
        "producers are blocked on send) comes out of the async with as the very same object, "
        "and nothing is left running or in flight at that instant; a hang is graded after 3 s",
        20.0,
    ),
)

BY_ID: dict[str, Criterion] = {c.id: c for c in CRITERIA}


def select(only: str | None) -> list[Criterion]:
    """Parse ``--only C5,C7`` (case-insensitive); raise ValueError on an unknown id."""
    if not only:
        return list(CRITERIA)
    wanted = [part.strip().upper() for part in only.split(",") if part.strip()]
    unknown = [w for w in wanted if w not in BY_ID]
    if unknown:
        raise ValueError(f"unknown criterion {', '.join(unknown)} (known: C1..C9)")
    return [c for c in CRITERIA if c.id in wanted]
