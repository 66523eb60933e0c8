"""Plot cancellation latency vs in-flight count from ``fetcher_bench.py --json`` output.

Why a separate script: the benchmark takes minutes and the plot is redrawn
from its saved figures. One panel per backend (the issue asks for trio
beside asyncio), log-log so that "linear" reads as slope 1, with the floor
(raw anyio sockets, no HTTP) under the HTTP variants, and the server-side
close time of the fetcher's own client dotted. A case that could not be set up (no
``aexit_ms`` in its row) is left out of its line.

Run:  .venv/bin/python benchmarks/plot_cancel.py RESULTS.json [cancel_latency.png]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

STYLES: dict[str, tuple[str, str]] = {
    "DataFetcher (own client)": ("-o", "tab:blue"),
    "DataFetcher (given client)": ("-s", "tab:red"),
    "task group (plain httpx)": ("--s", "tab:orange"),
    "floor: raw anyio sockets": (":D", "black"),
    "floor: bare asyncio, no anyio": (":v", "grey"),
    "floor: a task per fetch + close(2)": (":+", "silver"),
    "floor: close(2) only, no tasks": (":x", "silver"),
    # Older result files, before the variants were split.
    "DataFetcher": ("-o", "tab:red"),
}


def _points(rows: list[dict[str, Any]], backend: str, variant: str, key: str) -> list[Any]:
    return sorted(
        (r["in_flight"], r[key])
        for r in rows
        if r["backend"] == backend and r.get("variant", "DataFetcher") == variant and key in r
    )


def main(argv: list[str]) -> int:
    source = Path(argv[0])
    target = Path(argv[1]) if len(argv) > 1 else Path("cancel_latency.png")
    rows = json.loads(source.read_text())["cancel"]
    backends = [b for b in ("asyncio", "trio") if any(r["backend"] == b for r in rows)]
    fig, axes = plt.subplots(
        1, len(backends), figsize=(6.2 * len(backends), 4.8), dpi=110, sharey=True, squeeze=False
    )
    for ax, backend in zip(axes[0], backends, strict=True):
        for variant, (style, colour) in STYLES.items():
            pts = _points(rows, backend, variant, "aexit_ms")
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, style, color=colour, label=f"{variant}: to __aexit__")
        closed = _points(rows, backend, "DataFetcher (own client)", "server_closed_ms")
        if closed:
            xs, ys = zip(*closed, strict=True)
            ax.plot(
                xs, ys, ":", color="tab:blue", alpha=0.6, label="own client: server sees all closed"
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("fetches in flight when cancelled")
        ax.set_title(f"{backend}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6.5, loc="upper left")
    axes[0][0].set_ylabel("ms from cancel (median)")
    fig.suptitle("Cancellation latency, httpx over loopback (2 shared cores)", fontsize=11)
    fig.tight_layout()
    fig.savefig(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
