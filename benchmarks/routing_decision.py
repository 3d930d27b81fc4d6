"""Routing-decision latency in-process: microseconds per ``choose`` for K candidate routes, in
steady state (one message a second, conversions delayed as in ROUTING.md, so each route has
its window's worth of pending decisions).

    python -m benchmarks.routing_decision [--routes 10] [--policy convroute] [--decisions 20000]
        [--networks 200]   # decisions spread over 200 networks in 40 countries (default: one)
    PYTHONPATH=build/fast python -m benchmarks.routing_decision ...   # compiled (make fast)
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time

from convroute.routing.policies import POLICIES, make_policy
from convroute.routing.policy import Candidate, Context, Outcome, OutcomeKind
from convroute.sim.run import compiled


def measure(
    policy_name: str, routes: int, decisions: int, seed: int = 1, networks: int = 0
) -> float:
    """Mean µs per decision over ``decisions`` after a warm-up of the same length; with
    ``networks``, each decision goes to one of that many networks (five per country) at
    random, one every 250 ms, instead of all to one country once a second."""
    policy, rng = make_policy(policy_name), random.Random(seed)
    contexts = [Context(f"C{i // 5}", f"N{i}", "otp") for i in range(networks)] or [
        Context("GB", None, "otp")
    ]
    step_ms = 250 if networks else 1000
    candidates = [Candidate(f"r{i}", 0.01 * (i + 1)) for i in range(routes)]
    due: list[tuple[int, Outcome]] = []
    elapsed = 0.0
    for t in range(2 * decisions):
        now = t * step_ms
        while due and due[0][0] <= now:
            policy.observe(due.pop(0)[1])
        context = contexts[rng.randrange(len(contexts))] if networks else contexts[0]
        start = time.perf_counter()
        d = policy.choose(f"d{t}", context, candidates, now, rng)
        if t >= decisions:
            elapsed += time.perf_counter() - start
        if rng.random() < 0.8:
            lag = min(299.0, math.exp(math.log(20) + rng.gauss(0, 1)))
            outcome = Outcome(d.decision_id, OutcomeKind.CONVERTED, now + int(lag * 1000))
        else:
            outcome = Outcome(d.decision_id, OutcomeKind.NOT_CONVERTED, now + 300_000)
        due.append((outcome.at_ms, outcome))
        due.sort(key=lambda x: x[0])
    return elapsed / decisions * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=10)
    parser.add_argument("--decisions", type=int, default=20000)
    parser.add_argument("--policy", choices=list(POLICIES), default=None, help="default: all")
    parser.add_argument(
        "--networks", type=int, default=0, help="spread decisions over this many networks"
    )
    args = parser.parse_args(argv)
    names = [args.policy] if args.policy else list(POLICIES)
    build = "compiled (mypyc)" if compiled() else "Python source"
    print(f"Routing engine: {build}\n")
    where = f"{args.networks} networks" if args.networks else "one destination"
    print(f"| policy | µs per decision ({args.routes} routes, {where}) |\n|---|---|")
    for name in names:
        us = measure(name, args.routes, args.decisions, networks=args.networks)
        print(f"| {name} | {us:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
