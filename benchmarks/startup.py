"""The live router's start-up on a day of log: a synthetic day at R messages a second over D
destinations x 5 routes (every message a decision, a receipt and, for most, a conversion),
replayed as a server replays its log at start (``LiveRouter.replay``), timed, with the
resident memory it added once the log itself is let go. The database read is not in it:
it measures the router, the part that grows with the log in every instance's memory.

    python -m benchmarks.startup --rates 1 10 30
    python -m benchmarks.startup --rates 1 3 10 --plot docs/benchmarks/startup.png
    PYTHONPATH=build/fast python -m benchmarks.startup --checkpoint --rates 1 10 100

With ``--checkpoint``, as a server starts from a checkpoint (``services/checkpoints.py``): the
day up to its last ``--tail-minutes`` is replayed once (what the first checkpoint costs) and
sealed as a checkpoint is; then a new process restores it and replays the tail, timed, with
the resident memory it holds after (read in that process, so nothing of the build is in it).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import pickle
import random
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

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


def measure_checkpoint(
    rate: float, destinations: int, routes: int, tail_min: float
) -> dict[str, float]:
    """Build a checkpoint of the day up to its last ``tail_min`` minutes, then start from it
    in a new process (``restore_main``)."""
    now = int(time.time() * 1000)
    batch = day_of_log(rate, destinations, routes, now)
    at = now - int(tail_min * 60_000)
    before, after = batch.between(-math.inf, at), batch.between(at, now)
    del batch
    router = live_router(Settings())
    started = time.perf_counter()
    router.replay(before)
    full_s = time.perf_counter() - started
    del before
    started = time.perf_counter()
    state = zlib.compress(pickle.dumps(router.state(), protocol=5), 1)
    seal_s = time.perf_counter() - started
    del router
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "state").write_bytes(state)
        (Path(tmp) / "tail").write_bytes(pickle.dumps(after, protocol=5))
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.startup", "--restore", tmp, "--now", str(now)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    m = json.loads(out.strip().splitlines()[-1])
    return {
        "messages": rate * DAY_MS / 1000,
        "full_s": full_s,
        "seal_s": seal_s,
        "size_mb": len(state) / 1e6,
        "tail": float(len(after)),
        **m,
    }


def restore_main(folder: str, now: int) -> None:
    """In a new process: restore the checkpoint in ``folder``, replay its tail; print JSON."""
    tail = pickle.loads((Path(folder) / "tail").read_bytes())  # noqa: S301 (our own)
    state = (Path(folder) / "state").read_bytes()
    gc.collect()
    before = rss_mib()
    started = time.perf_counter()
    router = live_router(Settings())
    router.restore(pickle.loads(zlib.decompress(state)))  # noqa: S301 (our own)
    restored_s = time.perf_counter() - started
    del state
    router.replay(tail)
    router.advance(now)
    start_s = time.perf_counter() - started
    del tail
    gc.collect()
    print(json.dumps({"restore_s": restored_s, "start_s": start_s,
                      "held_mib": rss_mib() - before, "rss_mib": rss_mib()}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--destinations", type=int, default=200)
    parser.add_argument("--routes", type=int, default=5)
    parser.add_argument("--plot", help="also draw replay time and memory against the rate")
    parser.add_argument("--checkpoint", action="store_true",
                        help="start from a checkpoint and the log's last minutes")  # fmt: skip
    parser.add_argument("--tail-minutes", type=float, default=5.0,
                        help="the log after the checkpoint (its interval: 5 min)")  # fmt: skip
    parser.add_argument("--restore", help=argparse.SUPPRESS)
    parser.add_argument("--now", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.restore:
        restore_main(args.restore, args.now)
        return
    if args.checkpoint:
        print("| messages/s | messages in the day | first checkpoint (full replay) | checkpoint "
              "| start: restore + tail | of which restore | resident memory held |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        done = []
        for rate in args.rates:
            m = measure_checkpoint(rate, args.destinations, args.routes, args.tail_minutes)
            done.append((rate, m))
            print(f"| {rate:g} | {m['messages']:,.0f} | {m['full_s']:.1f} s | "
                  f"{m['size_mb']:.1f} MB (sealed in {m['seal_s']:.1f} s) | "
                  f"{m['start_s']:.1f} s ({m['tail']:,.0f} entries) | {m['restore_s']:.1f} s | "
                  f"{m['held_mib']:.0f} MiB |", flush=True)  # fmt: skip
        if args.plot:
            plot_checkpoints(done, args.plot, args.destinations, args.routes)
        return
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
    title = f"The live router's start-up on a day of log ({dests} destinations x {routes} routes)"
    lines = [("replay_s", "o-", None)]
    two_panels(rows, path, title, lines, "start-up replay (s)",
               ("held_mib", "resident memory added (MiB)"))  # fmt: skip


def plot_checkpoints(
    rows: list[tuple[float, dict[str, float]]], path: str, dests: int, routes: int
) -> None:
    """Start-up from a checkpoint and a full replay, and the memory held, against the rate."""
    title = f"The live router's start-up from a checkpoint ({dests} destinations x {routes} routes)"
    lines = [
        ("start_s", "o-", "start: checkpoint + 5 min"),
        ("full_s", "s--", "full replay of the day"),
    ]
    two_panels(rows, path, title, lines, "seconds",
               ("held_mib", "resident memory held (MiB)"), log_left=True)  # fmt: skip


def two_panels(
    rows: list[tuple[float, dict[str, float]]],
    path: str,
    title: str,
    left_lines: list[tuple[str, str, str | None]],
    left_label: str,
    right_line: tuple[str, str],
    log_left: bool = False,
) -> None:
    """Seconds (left) and memory (right) against the rate, with the targets, into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [r for r, _ in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, style, label in left_lines:
        left.plot(rates, [m[name] for _, m in rows], style, label=label)
    left.axhline(10, color="grey", linestyle=":", label="target: 10 s at 100 messages/s")
    left.set(xlabel="messages a second (a day of log)", ylabel=left_label)
    if log_left:
        left.set_yscale("log")
    right.plot(rates, [m[right_line[0]] for _, m in rows], "o-", color="tab:orange")
    right.axhline(1024, color="grey", linestyle=":", label="target: 1 GiB")
    right.set(xlabel="messages a second (a day of log)", ylabel=right_line[1])
    for ax in (left, right):
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
