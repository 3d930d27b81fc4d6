"""Simulator speed: simulated messages per second with a policy, on a scenario stretched to
N messages (default: S2 at 1,000,000 messages with convroute's default policy).

    python -m benchmarks.sim_speed [--messages 1000000] [--policy convroute] [--scenario PATH]
    PYTHONPATH=build/fast python -m benchmarks.sim_speed ...   # compiled (make fast)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from convroute.sim.run import compiled, simulate
from convroute.sim.scenario import load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--policy", default="convroute")
    parser.add_argument("--scenario", default="scenarios/s2-outage.toml")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    scenario = dataclasses.replace(load(args.scenario), messages=args.messages)
    started = time.perf_counter()
    result = simulate(scenario, args.policy, args.seed)
    elapsed = time.perf_counter() - started
    build = "compiled (mypyc)" if compiled() else "Python source"
    print(
        f"{scenario.name} x {args.messages:,} messages, policy {args.policy}, {build}: "
        f"{elapsed:.1f} s "
        f"({args.messages / elapsed:,.0f} messages/s, "
        f"{1e6 * elapsed / args.messages:.1f} µs each); "
        f"conversion rate {result.conversion_rate:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
