"""Notice when the machine, not the submission, stalled the grader.

A timing bound (0.25 s to leave the block) means nothing if the operating
system did not run this process for 300 ms in the middle of the measurement,
as happens on a loaded 2-core machine. A heartbeat thread ticks every 10 ms;
a long gap between its ticks means the whole process was not scheduled. The
submission cannot cause one: a submission blocking the event loop
(``time.sleep``, a busy loop) leaves this thread running, since the GIL is
released while sleeping and handed over every few milliseconds otherwise.
A criterion that fails a timing bound while such a stall happened measures
again instead of blaming the submission.
"""

from __future__ import annotations

import threading
import time

TICK = 0.01
STALL = 0.1
"""A gap between ticks this much longer than a tick is a stall of the process."""


class Heartbeat:
    """A daemon thread that remembers the gaps longer than :data:`STALL` between its ticks."""

    def __init__(self) -> None:
        self._gaps: list[tuple[float, float]] = []  # (start, end) of each stall
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start ticking (idempotent). Start it before any leak snapshot: it is ours."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="kata-grader heartbeat", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        last = time.perf_counter()
        while True:
            time.sleep(TICK)
            tick = time.perf_counter()
            if tick - last > TICK + STALL:
                with self._lock:
                    self._gaps.append((last, tick))
            last = tick

    def worst_stall(self, start: float, end: float) -> float:
        """The longest stall overlapping [start, end] (``time.perf_counter`` times), or 0."""
        with self._lock:
            overlapping = [
                min(b, end) - max(a, start) for a, b in self._gaps if a < end and b > start
            ]
        return max(overlapping, default=0.0)


HEARTBEAT = Heartbeat()
