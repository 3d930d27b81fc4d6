"""The routing fingerprint: one hash over what the default policy decided, measured and
raised on 15 runs (S2, S1 Pb 4, S1 Pb 1, S3 and S5, seeds 100-102, with the anomaly watch).
A change that must not move the routing figures (a refactoring, a speed-up) leaves it equal,
from the source and compiled:

    python -m benchmarks.fingerprint                       # from the source
    PYTHONPATH=build/fast python -m benchmarks.fingerprint  # compiled (make fast)
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence

from convroute.sim.run import Result, compiled, simulate
from convroute.sim.scenario import load

SCENARIOS = ("s2-outage", "s1-pb4", "s1-pb1", "s3-grey-route", "s5-pumping")
SEEDS = (100, 101, 102)


def digest_of(result: Result) -> str:
    """Everything a run measured, written exactly (floats by repr), as one line."""
    return repr(
        (
            result.scenario,
            result.seed,
            result.messages,
            result.conversions,
            result.reported,
            result.cost,
            result.value,
            result.expected_value,
            result.reactions,
            result.switches,
            result.exploration,
            result.switch_at,
            result.resends,
            result.anomalies,
        )
    )


def fingerprint(scenarios: Sequence[str] = SCENARIOS, seeds: Sequence[int] = SEEDS) -> str:
    """The hash over every run, in order."""
    h = hashlib.sha256()
    for name in scenarios:
        scenario = load(f"scenarios/{name}.toml")
        for seed in seeds:
            h.update(digest_of(simulate(scenario, "convroute", seed, watch=True)).encode())
    return h.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    build = "compiled" if compiled() else "source"
    print(f"routing fingerprint ({build}): {fingerprint()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
