"""Offline policy evaluation checked where the truth is known: a simulated run of a logging
policy is logged (``sim/logged.py``: the log the service keeps), other policies are evaluated
on it (``evaluation/replay.py``), and each estimate is compared with the value the policy
achieved when run on the same scenario and seed. Over many seeds: how often each estimator's
95 % interval covers the truth, its mean error and interval width.

    python -m benchmarks.offpolicy --scenario scenarios/s2-outage.toml --seeds 30 --jobs 2
    PYTHONPATH=build/fast python -m benchmarks.offpolicy ...     # on the compiled engine
"""

from __future__ import annotations

import argparse
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from convroute.evaluation.replay import replay
from convroute.routing.base import LedgerPolicy
from convroute.sim.logged import Logged
from convroute.sim.run import _Clock, compiled, make, simulate
from convroute.sim.scenario import Scenario, load

ESTIMATORS = ("ips", "snips", "dr")


def _policy(scenario: Scenario, name: str, explore: float | None) -> LedgerPolicy:
    policy = make(scenario, name, _Clock())
    assert isinstance(policy, LedgerPolicy)
    if explore is not None:
        if name == "convroute":
            policy.explore = explore  # type: ignore[attr-defined]
        else:
            policy.epsilon = explore  # type: ignore[attr-defined]
    return policy


def one_seed(
    args: tuple[str, int, str, float | None, tuple[str, ...], bool],
) -> list[tuple[str, float, dict[str, tuple[float, float, float]], float]]:
    """(candidate, truth, {estimator: (value, low, high)}, effective sample size) per
    candidate, for one seed."""
    path, seed, logger, explore, candidates, coupled = args
    scenario = load(Path(path))
    logged = Logged(_policy(scenario, logger, explore))
    simulate(scenario, logged, seed)
    steps = logged.steps()
    out = []
    for name in candidates:
        truth = simulate(scenario, name, seed)
        ev = replay(
            _policy(scenario, name, None), steps, logged.outcomes, coupled=seed if coupled else None
        )
        found = {
            k: (getattr(ev, k).value, getattr(ev, k).low, getattr(ev, k).high) for k in ESTIMATORS
        }
        out.append((name, truth.expected_value / truth.messages, found, ev.effective_sample_size))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="scenarios/s2-outage.toml")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--logger", default="convroute", help="the logging policy")
    parser.add_argument("--explore", type=float, default=None,
                        help="its exploration (convroute's floor, or epsilon)")  # fmt: skip
    parser.add_argument(
        "--candidates", nargs="+", default=["static", "dlr-only", "epsilon-greedy", "convroute"]
    )
    parser.add_argument(
        "--plain", action="store_true",
        help="candidates learn from the logged decisions alone, not coupled choices of their own",
    )  # fmt: skip
    args = parser.parse_args(argv)
    jobs = [
        (args.scenario, seed, args.logger, args.explore, tuple(args.candidates), not args.plain)
        for seed in range(args.seeds)
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one_seed, jobs))
    told = "its defaults" if args.explore is None else f"exploration {args.explore:g}"
    print(
        f"offline evaluation on {Path(args.scenario).stem}, logged by {args.logger} ({told}), "
        f"{args.seeds} seeds, {'compiled' if compiled() else 'source'} build; 95 % intervals"
        + ("; candidates replayed on the logged decisions alone" if args.plain else "")
    )
    print(
        "| candidate | true value | estimator | coverage | mean error | mean abs error "
        "| mean width | ESS (median) |\n|---|---|---|---|---|---|---|---|"
    )
    for name in args.candidates:
        rows = [r for per_seed in results for r in per_seed if r[0] == name]
        truth = statistics.mean(r[1] for r in rows)
        ess = statistics.median(r[3] for r in rows)
        for k in ESTIMATORS:
            cover = sum(r[2][k][1] <= r[1] <= r[2][k][2] for r in rows) / len(rows)
            err = [r[2][k][0] - r[1] for r in rows]
            width = statistics.mean(r[2][k][2] - r[2][k][1] for r in rows)
            print(
                f"| {name} | {truth:.4f} | {k.upper()} | {cover:.0%} | {statistics.mean(err):+.4f} "
                f"| {statistics.mean(abs(e) for e in err):.4f} | {width:.4f} | {ess:,.0f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
