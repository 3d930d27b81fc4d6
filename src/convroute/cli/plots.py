"""Plots of simulation runs (matplotlib, from the optional ``bench`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convroute.sim.run import Result


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError(
            "plots need matplotlib: pip install -e '.[bench]' (or make bench-setup)"
        ) from None
    return plt


def plot_run(result: Result, path: str | Path) -> None:
    """Each route's share of traffic (top) and true conversion rate (bottom) over time."""
    series = result.series
    if series is None:
        raise ValueError("the run kept no series: simulate with keep_series=True")
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for route in result.routes:
        top.plot(series.t, series.share[route], label=route)
        bottom.plot(series.t, series.truth[route], label=route)
    top.set_ylabel("share of traffic")
    top.set_title(f"{result.scenario} - {result.policy} (seed {result.seed})")
    top.legend(loc="upper right", fontsize="small")
    bottom.set_ylabel("true conversion rate")
    bottom.set_xlabel("simulated time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
