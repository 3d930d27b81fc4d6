"""The fraud guard on the simulator's pumping scenario: of the pumped verifications, how many
it blocks, and of the genuine ones, how many it refuses (the false-block rate).

    python -m benchmarks.verify_guard [--scenario scenarios/s5-pumping.toml] [--seeds 5]
    PYTHONPATH=build/fast python -m benchmarks.verify_guard ...   # compiled (make fast)

Each seed runs the scenario once with the default policy and its anomaly watch (the pumping
episodes the live router would raise, at the times it would raise them), every message a
verification. The simulator has no phone numbers, so each message is given a prefix from a
stream of its own: genuine users spread uniformly over ``--genuine-prefixes`` prefixes,
pumped requests over ``--pumped-prefixes`` (pumping targets the few ranges the fraudster
earns from). The guard is then replayed over the messages in time order, with what it would
know: a message's outcome once its window closed, over the last hour, and only for the
messages it let through. Three guards are compared:

- ``prefix`` (convroute's, ``pumping: block``): while the watch's episode is in progress on
  the destination, refuse the prefixes ``domain.fraud.affected`` names;
- ``hold`` (``pumping: hold``): refuse everything to the destination during the episode;
- ``prefix, always`` (``pumping: always``): the prefix rule with no episode (what the
  watch's gate costs and buys).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import deque
from dataclasses import dataclass, field

from convroute.domain.fraud import Counts, affected
from convroute.sim.run import compiled, simulate
from convroute.sim.scenario import Scenario, load

HOUR_S = 3600.0
GUARDS = ("prefix", "hold", "prefix, always")


@dataclass
class Tally:
    pumped: int = 0
    pumped_blocked: int = 0
    genuine: int = 0
    genuine_blocked: int = 0
    genuine_in_episode: int = 0
    genuine_blocked_in_episode: int = 0


@dataclass
class _Window:
    """Per prefix, the settled verifications of the last hour (those let through)."""

    settled: dict[str, list[int]] = field(default_factory=dict)  # prefix -> [n, converted]
    waiting: deque[tuple[float, str, bool]] = field(default_factory=deque)  # not yet settled
    counted: deque[tuple[float, str, bool]] = field(default_factory=deque)  # settled, in hour

    def move_to(self, now: float, window_s: float) -> None:
        while self.waiting and self.waiting[0][0] + window_s <= now:
            item = self.waiting.popleft()
            counts = self.settled.setdefault(item[1], [0, 0])
            counts[0] += 1
            counts[1] += item[2]
            self.counted.append(item)
        while self.counted and self.counted[0][0] < now - HOUR_S:
            _, prefix, converted = self.counted.popleft()
            counts = self.settled[prefix]
            counts[0] -= 1
            counts[1] -= converted

    def counts(self, prefix: str) -> Counts:
        n, c = self.settled.get(prefix, (0, 0))
        return Counts(n, c)

    def total(self) -> Counts:
        n = sum(v[0] for v in self.settled.values())
        return Counts(n, sum(v[1] for v in self.settled.values()))


def replay(
    scenario: Scenario, seed: int, genuine_prefixes: int, pumped_prefixes: int
) -> dict[str, Tally]:
    trace: list[tuple[float, str, bool, bool]] = []
    result = simulate(scenario, "convroute", seed, watch=True, trace=trace)
    episodes = [
        (a[1], a[2], a[3] if a[3] is not None else float("inf"))
        for a in result.anomalies or []
        if a[0] == "pumping"
    ]
    rng = random.Random(seed * 31 + 7)
    prefixes = [
        f"p{rng.randrange(pumped_prefixes)}" if pumped else f"g{rng.randrange(genuine_prefixes)}"
        for _, _, pumped, _ in trace
    ]
    window_s = scenario.users.window_s
    out = {}
    for guard in GUARDS:
        tally, windows = Tally(), {}
        for (t, place, pumped, converts), prefix in zip(trace, prefixes, strict=True):
            window = windows.setdefault(place, _Window())
            window.move_to(t, window_s)
            in_episode = any(p == place and a <= t < b for p, a, b in episodes)
            if guard == "hold":
                blocked = in_episode
            elif guard == "prefix" and not in_episode:
                blocked = False
            else:
                blocked = affected(window.counts(prefix), window.total())
            if pumped:
                tally.pumped += 1
                tally.pumped_blocked += blocked
            else:
                tally.genuine += 1
                tally.genuine_blocked += blocked
                tally.genuine_in_episode += in_episode
                tally.genuine_blocked_in_episode += blocked and in_episode
            if not blocked:
                window.waiting.append((t, prefix, converts))
        out[guard] = tally
    return out


def _pct(values: list[float]) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:.2f} ± {100 * sd:.2f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="scenarios/s5-pumping.toml")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--genuine-prefixes", type=int, default=400)
    parser.add_argument("--pumped-prefixes", type=int, default=4)
    args = parser.parse_args(argv)
    scenario = load(args.scenario)
    if not scenario.pumping:
        parser.error(f"{args.scenario} has no pumping episode")
    runs: dict[str, list[Tally]] = {g: [] for g in GUARDS}
    for seed in range(1, args.seeds + 1):
        for guard, tally in replay(
            scenario, seed, args.genuine_prefixes, args.pumped_prefixes
        ).items():
            runs[guard].append(tally)
        print(f"seed {seed} done", file=sys.stderr)
    build = "compiled" if compiled() else "source"
    print(
        f"{scenario.name}, {args.seeds} seeds ({build}); genuine users over "
        f"{args.genuine_prefixes} prefixes, pumped requests over {args.pumped_prefixes}\n"
    )
    print("| guard | pumped blocked | genuine refused (all) | genuine refused during episodes |")
    print("|---|---|---|---|")
    for guard, tallies in runs.items():
        pumped = _pct([t.pumped_blocked / t.pumped for t in tallies])
        genuine = _pct([t.genuine_blocked / t.genuine for t in tallies])
        during = _pct(
            [t.genuine_blocked_in_episode / max(1, t.genuine_in_episode) for t in tallies]
        )
        print(f"| {guard} | {pumped} | {genuine} | {during} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
