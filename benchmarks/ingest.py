"""Durable-ingest benchmark: conversion reports per second against a running server, with
p50/p99 latency, beside a no-op endpoint on the same stack; ``--kill-after`` SIGKILLs the
server mid-run and checks that every acknowledged report is in the database.

    python -m benchmarks.ingest                    # or: make bench-ingest
    python -m benchmarks.ingest --kill-after 3     # durability under SIGKILL
    python -m benchmarks.ingest --dialect vonage-signed   # reports in another wire format
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import phonenumbers
import uvloop
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from sqlalchemy import select

from benchmarks.dialects import DIALECTS, SUCCESS, conversion_requests
from benchmarks.history import HISTORY_IDS, HOUR_AT_100_PER_SECOND, fill_history
from benchmarks.loadgen import Result, http_request, pregenerated, run_load
from benchmarks.server import Server, prepare_database
from convroute.bootstrap import bootstrap
from convroute.config import Settings
from convroute.storage import schema as t
from convroute.storage.secretbox import new_key

POOL_PER_SECOND = 10_000
"""Reports built before each closed-loop phase, per second of it (more than any phase has
answered on this machine; the rest are built on the fly)."""


def pool(args: argparse.Namespace) -> int:
    """How many reports to build before a closed-loop phase."""
    return int(args.seconds * POOL_PER_SECOND)


def report(name: str, r: Result) -> str:
    server = "?" if r.server_cpu_seconds is None else f"{r.server_cpu_seconds / r.seconds:.0%}"
    return (
        f"| {name} | {r.rate:,.0f}/s | {r.percentile(50):.1f} ms | {r.percentile(99):.1f} ms "
        f"| {r.ok:,} | {r.errors} | {r.cpu_share:.0%} | {server} |"
    )


SEND_REGIONS = (
    "US", "IN", "BR", "ID", "NG", "MX", "PH", "GB", "DE", "FR", "TR", "IT", "ES", "PL", "NL",
    "ZA", "EG", "KE", "VN", "TH", "AR", "CO", "SA", "AE", "PK", "BD", "JP", "KR", "AU", "CA",
    "RU", "UA", "MY", "CL", "PE",
)  # fmt: skip
"""The send phase's countries: where OTP traffic goes, each a valid mobile range."""


def send_numbers(destinations: str) -> Callable[[int], str]:
    """``number(n)``: the n-th send's number. ``world``: valid mobile numbers, spread over
    ``SEND_REGIONS`` (phonenumbers' example mobile number of each, its last four digits
    varied); ``nanp-unassigned``: +1 415 000 0000 on, numbers no NANP region has assigned,
    which phonenumbers tries against every region of +1 (the worst case of its parse)."""
    if destinations == "nanp-unassigned":
        return lambda n: f"+1415{n:07d}"
    prefixes = []
    for region in SEND_REGIONS:
        example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
        assert example is not None, region
        prefixes.append(phonenumbers.format_number(example, PhoneNumberFormat.E164)[:-4])
    return lambda n: f"{prefixes[n % len(prefixes)]}{n // len(prefixes) % 10_000:04d}"


def verdict(name: str, met: bool, figure: str) -> str:
    return f"- {name}: {figure}: {'MET' if met else 'NOT MET'}"


async def create_messages(server: Server, token: str, seconds: float) -> list[str]:
    body = json.dumps(
        {"src": "Bench", "dst": "+14155552671", "text": "code 123456", "trackable": True}
    ).encode()
    request = http_request("POST", "/api/v1/messages", token, body)
    r = await run_load(
        "127.0.0.1", server.port, lambda n: request, 32, seconds, 201, keep_acks=True
    )
    print(report("send message (POST /api/v1/messages)", r))
    return [json.loads(b)["id"] for b in r.acked]


async def bench(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="convroute-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    key = new_key()
    creds = prepare_database(url, key)
    account: dict[str, str] = creds["account"]  # type: ignore[assignment]
    filled = fill_history(url, account["id"], args.history, key)
    credentials: dict[str, dict[str, str]] = creds["credentials"]  # type: ignore[assignment]
    token = credentials["native"]["token"]
    ok = SUCCESS[args.dialect]
    cycle = args.numbers or 10_000_000  # (0: every send to a new number)
    numbering = send_numbers(args.destinations)

    def send_req(n: int) -> bytes:
        dst = numbering(n % cycle)
        body = b'{"src":"Bench","dst":"%s","text":"code 1"}' % dst.encode()
        return http_request("POST", "/api/v1/messages", token, body)

    server = Server(
        url, workers=args.workers, log=tmp / "server.log",
        env={"CONVROUTE_SECRET_KEY": key, "CONVROUTE_WRITER": args.writer},
        http_server=args.server,
    ).start()  # fmt: skip
    print(
        f"convroute ingest benchmark: {url.split('://')[0]}, {args.server}, "
        f"writer: {args.writer}, sends to {args.destinations} numbers, "
        f"{args.workers} server worker(s), "
        f"{args.connections} connections, {args.seconds:g} s per phase, "
        f"{platform.python_implementation()} {platform.python_version()}; "
        + (
            "no history"
            if not args.history
            else f"a history of {args.history:,} earlier messages "
            + (f"(written in {filled:.0f} s)" if filled else "(the database had it already)")
        )
    )
    print(
        "| phase | throughput | p50 | p99 | ok | errors | load generator CPU | server CPU |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    try:
        ids = await create_messages(server, token, 2.0)
        if args.kill_after or args.kill_writer_after:
            make = conversion_requests("native", credentials, ids, 0)
            late = conversion_requests("native", credentials, ids, 1)  # (new reports)
            return await kill_check(args, server, make, url, key, late)
        warm = conversion_requests(args.dialect, credentials, ids, 1)
        await run_load("127.0.0.1", server.port, warm, args.connections, 1.0, ok)
        make = pregenerated(conversion_requests(args.dialect, credentials, ids, 2), pool(args))
        pid = server.process.pid if server.process else None
        conv = await run_load(
            "127.0.0.1", server.port, make, args.connections, args.seconds, ok, server_pid=pid
        )
        print(report(f"durable conversion report ({args.dialect} dialect)", conv))
        noop_req = http_request("GET", "/healthz")
        noop = await run_load(
            "127.0.0.1", server.port, lambda n: noop_req, args.connections, args.seconds, 200,
            server_pid=pid,
        )  # fmt: skip
        print(report("no-op (GET /healthz)", noop))
        send = await run_load(
            "127.0.0.1", server.port, send_req, args.connections, args.seconds, 201,
            server_pid=pid,
        )  # fmt: skip
        print(report("send (POST /api/v1/messages: routed, durable, handed over)", send))
        # latency at half the maximum throughput: an open loop at half each rate just seen
        half_make = conversion_requests(args.dialect, credentials, ids, 3)
        half_conv = await run_load(
            "127.0.0.1", server.port, half_make, args.connections, args.seconds, ok,
            rate=args.open_rates[0] if args.open_rates else conv.rate / 2,
        )  # fmt: skip
        label = f"durable conversion report at {half_conv.rate:,.0f}/s (open loop)"
        print(report(label, half_conv))
        half_send = await run_load(
            "127.0.0.1", server.port, send_req, args.connections, args.seconds, 201,
            rate=args.open_rates[1] if args.open_rates else send.rate / 2,
        )  # fmt: skip
        print(report(f"send at {half_send.rate:,.0f}/s (open loop)", half_send))
        auth_req = http_request("GET", "/api/v1/account", token)
        auth = await run_load(
            "127.0.0.1", server.port, lambda n: auth_req, args.connections, args.seconds, 200
        )
        print(report("authenticated no-op (GET /api/v1/account)", auth))
        # (last: its phases grow the database, which the phases above should not inherit)
        rates, table, compare_errors = await compare_dialects(args, server, credentials, ids, conv)
        print(table)
        print(
            f"\nconversion reports / no-op: {conv.rate / noop.rate:.0%}; "
            f"/ authenticated no-op: {conv.rate / auth.rate:.0%}"
        )
        print("\ntargets (issue 20; ratios measured side by side in this run):")
        share = 0.4 if url.startswith("postgresql") else 0.5  # (issue 20's target for each)
        print(verdict(f"reports >= {share:.0%} of the no-op", conv.rate >= share * noop.rate,
                      f"{conv.rate / noop.rate:.0%}"))  # fmt: skip
        print(verdict("sends >= 35 % of the no-op", send.rate >= 0.35 * noop.rate,
                      f"{send.rate / noop.rate:.0%}"))  # fmt: skip
        worst = max(half_conv.percentile(99), half_send.percentile(99))
        print(verdict("p99 <= 25 ms at half the maximum throughput", worst <= 25.0,
                      f"reports {half_conv.percentile(99):.1f} ms, "
                      f"sends {half_send.percentile(99):.1f} ms"))  # fmt: skip
        if "native" in rates and len(rates) > 1:
            gaps = {d: r / rates["native"] - 1 for d, r in rates.items() if d != "native"}
            slowest = min(gaps, key=lambda d: gaps[d])
            each = ", ".join(f"{d} {g:+.0%}" for d, g in gaps.items())
            print(verdict("every dialect within 15 % of native", gaps[slowest] >= -0.15,
                          f"the slowest, {slowest}, {gaps[slowest]:+.0%} ({each})"))  # fmt: skip
        phases = (conv, send, half_conv, half_send)
        errors = sum(x.errors for x in phases) + compare_errors
        print(verdict("0 errors", errors == 0, f"{errors} errors"))  # fmt: skip
        busiest = max(r.cpu_share for r in (conv, noop, send))
        print(
            f"- the load generator used at most {busiest:.0%} of a core "
            + ("(it may be what limits the figures: compare the server's CPU)" if busiest > 0.9
               else "(not the limit)")
        )  # fmt: skip
        return 0
    finally:
        server.stop()


async def compare_dialects(
    args: argparse.Namespace,
    server: Server,
    credentials: dict[str, dict[str, str]],
    ids: list[str],
    first: Result,
) -> tuple[dict[str, float], str, int]:
    """Each dialect's reports/s (``--dialect`` and ``--compare``) over ``--rounds`` rounds of
    one phase each (0: as many rounds as dialects), in the orders of a balanced Latin square
    (``orders``): over as many rounds as dialects, each dialect runs once at every position
    and after every other dialect once, so that the machine's drift, the database's growth
    and what the phase before left behind weigh on every dialect alike; with one round,
    ``first`` stands for ``--dialect``'s phase. Prints a row per dialect with the server's
    CPU time per report (its process group's, both cores): the rates, that table (with the
    first wrong answers, if any) and the number of errors."""
    dialects = [args.dialect, *(d for d in args.compare if d != args.dialect)]
    if len(dialects) < 2:
        return {args.dialect: first.rate}, "", 0
    pid = server.process.pid if server.process else None
    done: dict[str, list[Result]] = {d: [] for d in dialects}
    rounds = args.rounds or len(dialects)
    if rounds == 1:
        done[args.dialect].append(first)
    for r, order in enumerate(orders(dialects, rounds)):
        for n, dialect in enumerate(order):
            if rounds == 1 and dialect == args.dialect:
                continue
            make = pregenerated(
                conversion_requests(dialect, credentials, ids, 10 + 10 * r + n),
                pool(args),
            )
            done[dialect].append(await run_load(
                "127.0.0.1", server.port, make, args.connections, args.seconds,
                SUCCESS[dialect], server_pid=pid,
            ))  # fmt: skip
    lines = [
        f"\nevery dialect's reports, {rounds} round(s) of {args.seconds:g} s each, "
        "in the orders of a balanced Latin square:",
        "| dialect | reports/s | against native | p99 | errors | server CPU per report |",
        "|---|---|---|---|---|---|",
    ]
    merged = {d: _merged(results) for d, results in done.items()}
    rates = {d: m.rate for d, m in merged.items()}
    for dialect, m in merged.items():
        cpu = m.server_cpu_seconds
        per = f"{cpu / m.ok * 1e6:,.0f} µs" if m.ok and cpu else "?"
        gap = f"{m.rate / rates['native'] - 1:+.0%}" if rates.get("native") else "?"
        lines.append(
            f"| {dialect} | {m.rate:,.0f} | {gap} | {m.percentile(99):.1f} ms | {m.errors} "
            f"| {per} |"
        )
    everything = [x for results in done.values() for x in results if x is not first]
    for sample in sorted({e for x in everything for e in x.error_samples})[:5]:
        lines.append(f"- a wrong answer: {sample}")
    return rates, "\n".join(lines), sum(x.errors for x in everything)


def orders(items: list[str], rounds: int) -> list[list[str]]:
    """``rounds`` orders of ``items`` from a balanced Latin square (Williams, 1949): the first
    row 0, 1, n-1, 2, n-2, ..., each next row the one before plus 1 (mod n), and for an odd n
    the rows reversed after them. Over n rows every item takes every position once; over
    those rows (2n for an odd n) every item follows every other once. Beyond, the rows
    repeat."""
    n = len(items)
    first = [0]
    for k in range(1, n):
        first.append((k + 1) // 2 if k % 2 else n - k // 2)
    rows = [[(i + r) % n for i in first] for r in range(n)]
    if n % 2:
        rows += [row[::-1] for row in rows]
    return [[items[i] for i in rows[r % len(rows)]] for r in range(rounds)]


def _merged(results: list[Result]) -> Result:
    """Phases of one dialect as one (their server CPU unknown if any phase's is)."""
    cpu = [x.server_cpu_seconds for x in results]
    return Result(
        ok=sum(x.ok for x in results),
        errors=sum(x.errors for x in results),
        latencies_ms=[v for x in results for v in x.latencies_ms],
        seconds=sum(x.seconds for x in results),
        server_cpu_seconds=None if None in cpu else sum(c for c in cpu if c is not None),
    )


async def kill_check(
    args: argparse.Namespace,
    server: Server,
    make,
    url: str,  # type: ignore[no-untyped-def]
    key: str,
    late_make,  # type: ignore[no-untyped-def]
) -> int:
    loop = asyncio.get_running_loop()
    after = args.kill_writer_after or args.kill_after
    loop.call_later(after, server.kill_writer if args.kill_writer_after else server.kill)
    r = await run_load(
        "127.0.0.1", server.port, make, args.connections, after + 2, 201, keep_acks=True
    )
    acked = {json.loads(b)["id"] for b in r.acked}
    if args.kill_writer_after:  # the server goes on with a new writer process
        late = await run_load("127.0.0.1", server.port, late_make, 8, 1.0, 201, keep_acks=True)
        acked |= {json.loads(b)["id"] for b in late.acked}
        print(
            f"\nwriter process SIGKILLed after {after:g} s: {r.errors} requests answered "
            f"an error (not acknowledged); after it, {late.ok:,} reports acknowledged "
            f"and {late.errors} errors"
        )
        server.stop()
        if late.ok == 0 or late.errors:
            return 1
    c = bootstrap(Settings(database_url=url, secret_key=key))  # reopens (and recovers) the db
    try:
        ids = t.conversion_events.c.id
        stored = c.store.read(  # (this run's: the history's are not)
            lambda conn: {
                row.id for row in conn.execute(select(ids).where(~ids.startswith(HISTORY_IDS)))
            }
        )
    finally:
        c.close()
    lost = acked - stored
    print(
        f"\nSIGKILL after {after:g} s: {len(acked):,} reports acknowledged, "
        f"{len(stored):,} stored, {len(lost)} acknowledged but lost, "
        f"{r.errors} requests cut by the kill"
    )
    return 1 if lost or not acked else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--connections", type=int, default=64, help="concurrent keep-alive clients")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--numbers", type=int, default=0,
                        help="sends cycle over N numbers (0: each a new one)")  # fmt: skip
    parser.add_argument("--destinations", choices=["world", "nanp-unassigned"], default="world",
                        help="the sends' numbers (send_numbers says which)")  # fmt: skip
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn",
                        help="the HTTP server (granian: pip install granian)")  # fmt: skip
    parser.add_argument("--writer", choices=["process", "thread"], default="process",
                        help="where the server's writer runs (CONVROUTE_WRITER)")  # fmt: skip
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument(
        "--history", type=int, default=HOUR_AT_100_PER_SECOND,
        help="earlier messages in the database before the phases (default: an hour at 100 "
        "messages/s; 0: an empty database)",
    )  # fmt: skip
    parser.add_argument("--open-rates", type=float, nargs=2, metavar=("REPORTS", "SENDS"),
                        help="the open loop's rates (default: half of each measured)")  # fmt: skip
    parser.add_argument(
        "--kill-after",
        type=float,
        default=0.0,
        help="SIGKILL the server after this many seconds and check durability",
    )
    parser.add_argument(
        "--kill-writer-after",
        type=float,
        default=0.0,
        help="SIGKILL only the server's writer process after this many seconds, check that "
        "nothing acknowledged is lost and that the server goes on",
    )
    parser.add_argument(
        "--dialect", choices=DIALECTS, default="native", help="wire format of the reports"
    )
    parser.add_argument(
        "--compare",
        nargs="*",
        choices=DIALECTS,
        default=list(DIALECTS),
        metavar="DIALECT",
        help="after --dialect's reports, each of these dialects' for as long, each measured "
        "against it (default: every dialect; none: --compare with no name)",
    )
    parser.add_argument(
        "--rounds", type=int, default=0,
        help="rounds of the dialects' comparison, in the orders of a balanced Latin square "
        "(default 0: as many as dialects, each at every position once; "
        "1: --dialect's first phase is its figure)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.rounds < 0:
        parser.error("--rounds must be 0 (as many as dialects) or more")
    if args.history < 0:
        parser.error("--history must be 0 or more")
    return uvloop.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
