"""What the anomaly watch raises beside the default policy, per scenario over seeds: each
kind and route, on how many runs, the median time raised and how many were still raised at
the end (the table of docs/routing.md, "Anomalies of one route").

    python -m benchmarks.anomalies [--scenario PATH ...] [--seeds 10] [--jobs 2]
    PYTHONPATH=build/fast python -m benchmarks.anomalies ...   # compiled (make fast)

Without ``--scenario``: every scenario under ``scenarios/``. A scenario with a single
destination names the route alone; with several, the route and where it was raised.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from convroute.sim.run import compiled, simulate
from convroute.sim.scenario import load

Raised = list[tuple[str, str, float, float | None, str | None]]


def _one(job: tuple[str, int]) -> Raised:
    path, seed = job
    result = simulate(load(path), "convroute", seed, watch=True)
    return result.anomalies or []


def summary(runs: list[Raised], places: int) -> str:
    """One cell of the table: each (kind, route) on how many runs, its median first raising
    and how many runs ended with it raised."""
    first: dict[str, list[float]] = defaultdict(list)
    still: dict[str, int] = defaultdict(int)
    for raised in runs:
        seen: dict[str, float] = {}
        open_: set[str] = set()
        for kind, place, started, cleared, route in raised:
            name = kind if route is None else f"{kind} {route}"
            name = f"{name} ({place})" if places > 1 and route is not None else name
            seen[name] = min(started, seen.get(name, started))
            if cleared is None:
                open_.add(name)
        for name, started in seen.items():
            first[name].append(started)
        for name in open_:
            still[name] += 1
    if not first:
        return "none"
    return "; ".join(
        f"{name}: {len(times)} (median {statistics.median(times):.0f} s, "
        f"{still[name]} open at the end)"
        for name, times in sorted(first.items())
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", help="a scenario file (repeatable)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args(argv)
    paths = args.scenario or sorted(str(p) for p in Path("scenarios").glob("*.toml"))
    if not paths:
        parser.error("no scenario: pass --scenario or run from the project's root")
    build = "compiled (mypyc)" if compiled() else "Python source"
    print(f"# the anomaly watch beside convroute, seeds 0-{args.seeds - 1}, {build}")
    print("| scenario | raised over the seeds (median time raised; open at the end) |")
    print("|---|---|")
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for path in paths:
            started = time.perf_counter()
            scenario = load(path)
            runs = list(pool.map(_one, [(path, seed) for seed in range(args.seeds)]))
            places = len(scenario.destinations)
            print(f"| {scenario.name} | {summary(runs, places)} |", flush=True)
            print(f"  ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
