"""Plot cancellation latency vs in-flight count from ``fetcher_bench.py --json`` output.

Why a separate script: the benchmark takes minutes and the plot is redrawn
from its saved figures (log-log, so "linear" reads as slope 1, with the
target of 1 ms per 100 in-flight fetches drawn for reference).

Run:  .venv/bin/python benchmarks/plot_cancel.py RESULTS.json [docs/cancel_latency.png]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main(argv: list[str]) -> int:
    source = Path(argv[0])
    target = Path(argv[1]) if len(argv) > 1 else Path("docs/cancel_latency.png")
    rows = json.loads(source.read_text())["cancel"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    styles = {"DataFetcher": "-o", "task group (plain httpx)": "--s"}
    for backend, colour in (("asyncio", "tab:blue"), ("trio", "tab:orange")):
        for variant, style in styles.items():
            pts = sorted(
                (r["in_flight"], r["aexit_ms"])
                for r in rows
                if r["backend"] == backend and r.get("variant", "DataFetcher") == variant
            )
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, style, color=colour, label=f"{backend}: {variant}")
        closed = sorted(
            (r["in_flight"], r["server_closed_ms"])
            for r in rows
            if r["backend"] == backend and r.get("variant", "DataFetcher") == "DataFetcher"
        )
        if closed:
            xs, ys = zip(*closed, strict=True)
            ax.plot(
                xs,
                ys,
                ":",
                color=colour,
                alpha=0.6,
                label=f"{backend}: DataFetcher, server sees all closed",
            )
    ks = sorted({r["in_flight"] for r in rows})
    ax.plot(ks, [k / 100 for k in ks], "k-", lw=0.8, label="target: 1 ms per 100 in flight")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("fetches in flight when cancelled")
    ax.set_ylabel("ms from cancel to __aexit__ returning (median)")
    ax.set_title("Cancellation latency, httpx over loopback (2 shared cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
