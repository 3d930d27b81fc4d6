"""The live router's start-up on a day of log: a synthetic day at R messages a second over D
destinations x 5 routes (every message a decision, a receipt and, for most, a conversion),
replayed as a server replays its log at start (``LiveRouter.replay``), timed, with the
resident memory it added once the log itself is let go. The database read is not in it:
it measures the router, the part that grows with the log in every instance's memory.

    python -m benchmarks.startup --rates 1 10 30
    python -m benchmarks.startup --rates 1 3 10 --plot docs/benchmarks/startup.png
"""

from __future__ import annotations

import argparse
import gc
import random
import time

from convroute.bootstrap import live_router
from convroute.config import Settings
from convroute.domain.statuses import ConversionStatus, DlrStatus, MessageType, TrafficClass
from convroute.services.ports import LogBatch, LoggedConversion, LoggedDecision, LoggedDlr

DAY_MS = 86_400_000
COUNTRIES = ["GB", "US", "FR", "DE", "IN", "BR", "ID", "NG", "MX", "PH"]


def day_of_log(
    rate: float,
    destinations: int,
    routes: int,
    now_ms: int,
    seed: int = 1,
    outage_ms: int | None = None,
    hours: float = 24.0,
) -> LogBatch:
    """``hours`` of log up to ``now_ms``; with ``outage_ms``, route 0 stops converting from
    then on (everywhere)."""
    rng = random.Random(seed)
    route_ids = [f"route-{i}" for i in range(routes)]
    quality = {r: 0.6 + 0.3 * rng.random() for r in route_ids}
    places = [(COUNTRIES[i % len(COUNTRIES)], f"net-{i}") for i in range(destinations)]
    decisions, conversions, dlrs = [], [], []
    span = int(hours * 3_600_000)
    n = int(rate * span / 1000)
    start = now_ms - span
    for i in range(n):
        sent = start + int(i * 1000 / rate)
        country, network = places[rng.randrange(destinations)]
        route = route_ids[rng.randrange(routes)]
        mid = f"m{i}"
        decisions.append(LoggedDecision(mid, route, country, network, MessageType.OTP,
                                        TrafficClass.TWO_FA, sent))  # fmt: skip
        dlrs.append(LoggedDlr(mid, DlrStatus.DELIVERED, sent + 4000))
        failed = outage_ms is not None and route == route_ids[0] and sent >= outage_ms
        converted = not failed and rng.random() < quality[route]
        status = ConversionStatus.CONVERTED if converted else ConversionStatus.NOT_CONVERTED
        conversions.append(LoggedConversion(mid, status, sent + (15_000 if converted else 600_000)))
    return LogBatch(decisions, conversions, dlrs)


def rss_mib() -> float:
    """This process's resident memory (Linux /proc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(rate: float, destinations: int, routes: int) -> dict[str, float]:
    now = int(time.time() * 1000)
    batch = day_of_log(rate, destinations, routes, now)
    gc.collect()
    before = rss_mib()
    router = live_router(Settings())
    started = time.perf_counter()
    router.replay(batch)
    router.advance(now)
    seconds = time.perf_counter() - started
    del batch
    gc.collect()
    return {
        "messages": rate * DAY_MS / 1000,
        "replay_s": seconds,
        "held_mib": rss_mib() - before,
        "router_entries": float(router.applied),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--destinations", type=int, default=200)
    parser.add_argument("--routes", type=int, default=5)
    parser.add_argument("--plot", help="also draw replay time and memory against the rate")
    args = parser.parse_args()
    print("| messages/s | messages in the day | replay | resident memory added |")
    print("|---|---|---|---|")
    rows = []
    for rate in args.rates:
        m = measure(rate, args.destinations, args.routes)
        rows.append((rate, m))
        print(f"| {rate:g} | {m['messages']:,.0f} | {m['replay_s']:.1f} s | "
              f"{m['held_mib']:.0f} MiB |", flush=True)  # fmt: skip

    if args.plot:
        plot(rows, args.plot, args.destinations, args.routes)


def plot(rows: list[tuple[float, dict[str, float]]], path: str, dests: int, routes: int) -> None:
    """Replay seconds and resident MiB against messages a second, with the targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [r for r, _ in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(rates, [m["replay_s"] for _, m in rows], "o-")
    left.axhline(10, color="grey", linestyle="--", label="target: 10 s at 100 messages/s")
    left.set(xlabel="messages a second (a day of log)", ylabel="start-up replay (s)")
    right.plot(rates, [m["held_mib"] for _, m in rows], "o-", color="tab:orange")
    right.axhline(1024, color="grey", linestyle="--", label="target: 1 GiB")
    right.set(xlabel="messages a second (a day of log)", ylabel="resident memory added (MiB)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left")
    fig.suptitle(
        f"The live router's start-up on a day of log ({dests} destinations x {routes} routes)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
