"""Live routing over a real store (SQLite and PostgreSQL): sends ask the learning policy, the
router learns only from the event log, and its state is a function of that log."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
from sqlalchemy import select

from convroute.bootstrap import Container, live_router
from convroute.config import Settings
from convroute.domain.commands import MessageAccepted, RecordConversion, SendMessage
from convroute.domain.destinations import parse_destination
from convroute.domain.errors import NoRouteError
from convroute.domain.models import Principal
from convroute.domain.statuses import ConversionStatus, DlrStatus, MessageType, TrafficClass
from convroute.routing.policy import Context
from convroute.services.messaging import close_due_windows
from convroute.services.ports import LogBatch, LoggedConversion, LoggedDecision, LoggedDlr
from convroute.services.quality import reason, route_qualities
from convroute.services.router import LiveRouter
from convroute.services.writer import handle_batch
from convroute.storage import schema as t
from convroute.storage.tail import SqlEventLog
from tests.conftest import add_account, add_route, principal

DST = "+447700900123"
OTP, TWO_FA = MessageType.OTP, TrafficClass.TWO_FA
T0 = 1_800_000_000_000


def run(c: Container, commands: list[object], now: int) -> list[object]:
    return c.store.write(
        lambda tx: handle_batch(tx, commands, now, router=c.router)  # type: ignore[arg-type]
    )


def sync(c: Container, now: int) -> int:
    return c.follower.catch_up(now)


def send(
    c: Container, who: Principal, now: int, client_ref: str | None = None, dst: str = DST
) -> MessageAccepted:
    cmd = SendMessage(who, "Acme", dst, "code", MessageType.OTP, True, client_ref=client_ref)
    (out,) = run(c, [cmd], now)
    assert isinstance(out, MessageAccepted), out
    return out


def traffic(c: Container, who: Principal, good: str, rates: dict[str, float], n: int) -> list[str]:
    """``n`` messages, one a second, in batches of 10; a message on route R converts 15 s
    later with probability rates[R]. Returns the route names chosen."""
    rng = random.Random(7)
    chosen: list[str] = []
    pending: list[tuple[int, str]] = []
    for batch in range(n // 10):
        now = T0 + batch * 10_000
        sends = [SendMessage(who, "Acme", DST, "code", MessageType.OTP, True) for _ in range(10)]
        for out in run(c, sends, now):  # type: ignore[arg-type]
            assert isinstance(out, MessageAccepted)
            chosen.append(out.route_name)
            if rng.random() < rates[out.route_name]:
                pending.append((now + 15_000, out.message_id))
        due = [m for at, m in pending if at <= now]
        pending = [(at, m) for at, m in pending if at > now]
        reports = [RecordConversion(who, m, ConversionStatus.CONVERTED, event_ms=now) for m in due]
        if reports:
            run(c, reports, now)  # type: ignore[arg-type]
        c.store.write(lambda tx, now=now: close_due_windows(tx, now))
        sync(c, now)
    return chosen


@pytest.fixture
def seeded(container: Container) -> Container:
    # a fixed seed, as production can set CONVROUTE_ROUTING_SEED: the same log, the same picks
    settings = dataclasses.replace(container.settings, routing_seed=3)
    container.router.rng = random.Random(3)
    container.router.policy = live_router(settings).policy
    return container


def test_the_route_that_converts_wins_and_every_decision_carries_its_probability(
    seeded: Container,
) -> None:
    c = seeded
    who = principal(c, add_account(c))
    add_route(c, "cheap-bad", 0.02)
    add_route(c, "dear-good", 0.05)
    chosen = traffic(c, who, "dear-good", {"cheap-bad": 0.1, "dear-good": 0.9}, 1200)
    last = chosen[-300:]
    assert last.count("dear-good") / len(last) > 0.8
    assert chosen[:10].count("cheap-bad") > 0  # it started where nothing was known

    rows = c.store.read(lambda conn: conn.execute(select(t.routing_decisions)).all())
    assert len(rows) == 1200
    assert {r.policy for r in rows} == {"convroute"}
    assert all(0.0 < r.probability <= 1.0 for r in rows)
    assert any(r.probability < 1.0 for r in rows)
    for r in rows[:3]:
        assert {cand[0] for cand in json.loads(r.candidates)} == {
            "route-cheap-bad",
            "route-dear-good",
        }


def test_state_is_a_function_of_the_log(seeded: Container) -> None:
    c = seeded
    who = principal(c, add_account(c))
    add_route(c, "a", 0.02)
    add_route(c, "b", 0.03)
    traffic(c, who, "b", {"a": 0.3, "b": 0.8}, 400)
    now = T0 + 400_000
    rebuilt = live_router(c.settings)
    rebuilt.apply(SqlEventLog(c.store.engines).poll(now))
    assert rebuilt.applied == c.router.applied
    dest = parse_destination(DST)
    routes = c.store.routes()
    ours = route_qualities(c.router, routes, dest, MessageType.OTP, TrafficClass.TWO_FA, now)
    theirs = route_qualities(rebuilt, routes, dest, MessageType.OTP, TrafficClass.TWO_FA, now)
    assert [q.route.name for q in ours] == [q.route.name for q in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a.estimate == pytest.approx(b.estimate, abs=1e-9)
        assert a.share == pytest.approx(b.share, abs=1e-9)
        assert a.evidence == pytest.approx(b.evidence, rel=1e-9)


def test_other_traffic_does_not_train_otp_routing(seeded: Container) -> None:
    c = seeded
    who = principal(c, add_account(c, traffic_class=TrafficClass.OTHER))
    add_route(c, "a", 0.02)
    add_route(c, "b", 0.03)
    traffic(c, who, "b", {"a": 0.0, "b": 0.9}, 300)
    now = T0 + 300_000
    dest = parse_destination(DST)
    otp = route_qualities(
        c.router, c.store.routes(), dest, MessageType.OTP, TrafficClass.TWO_FA, now
    )
    other = route_qualities(
        c.router, c.store.routes(), dest, MessageType.OTP, TrafficClass.OTHER, now
    )
    assert all(q.evidence == 0.0 for q in otp)
    assert sum(q.evidence for q in other) > 50


def test_no_decision_on_a_disabled_route(seeded: Container) -> None:
    c = seeded
    who = principal(c, add_account(c))
    good = add_route(c, "good", 0.05)
    add_route(c, "other", 0.02)
    traffic(c, who, "good", {"good": 0.95, "other": 0.05}, 300)
    c.store.update_route(dataclasses.replace(good, enabled=False))
    names = [send(c, who, T0 + 400_000 + i).route_name for i in range(50)]
    assert set(names) == {"other"}
    c.store.update_route(dataclasses.replace(good, enabled=True))
    c.store.update_route(dataclasses.replace(c.store.route("other"), enabled=False))
    names = [send(c, who, T0 + 500_000 + i).route_name for i in range(20)]
    assert set(names) == {"good"}
    c.store.update_route(dataclasses.replace(good, enabled=False))
    with pytest.raises(NoRouteError):
        c.router.choose(
            c.store.routes(), parse_destination(DST), MessageType.OTP, TrafficClass.TWO_FA, T0
        )


def test_a_resend_avoids_the_route_of_the_unconverted_message(seeded: Container) -> None:
    c = seeded
    who = principal(c, add_account(c))
    add_route(c, "a", 0.02)
    add_route(c, "b", 0.02)
    for i in range(20):
        first = send(c, who, T0 + i * 1000, client_ref=f"verify-{i}")
        again = send(c, who, T0 + i * 1000 + 100, client_ref=f"verify-{i}")
        assert again.route_id != first.route_id
    # once the earlier message converted, a new message with its reference is not a resend
    converted = send(c, who, T0 + 50_000, client_ref="done")
    run(c, [RecordConversion(who, converted.message_id, ConversionStatus.CONVERTED)], T0 + 51_000)
    send(c, who, T0 + 60_000, client_ref="done")
    # both routes stay candidates (the decision's logged candidates say so)
    logged = c.store.read(
        lambda conn: conn.execute(
            select(t.routing_decisions.c.candidates).order_by(t.routing_decisions.c.seq.desc())
        ).first()
    )
    assert logged is not None
    assert len(json.loads(logged[0])) == 2


def test_a_resend_keeps_its_route_when_it_is_the_only_one(seeded: Container) -> None:
    c = seeded
    who = principal(c, add_account(c))
    only = add_route(c, "only", 0.02)
    first = send(c, who, T0, client_ref="v")
    assert send(c, who, T0 + 10, client_ref="v").route_id == first.route_id == only.id


def test_routes_serving_only_other_countries_are_not_candidates(seeded: Container) -> None:
    c = seeded
    who = principal(c, add_account(c))
    add_route(c, "fr", 0.001, country="FR")
    add_route(c, "gb", 0.05, country="GB")
    assert {send(c, who, T0 + i).route_name for i in range(30)} == {"gb"}


def test_a_router_without_the_log_starts_from_nothing(seeded: Container) -> None:
    fresh = LiveRouter(live_router(seeded.settings).policy)
    assert fresh.applied == 0


def test_a_decision_committed_late_below_the_mark_is_still_read(seeded: Container) -> None:
    """PostgreSQL hands out ``seq`` at insert and shows the row at commit: a transaction that
    commits after a later one leaves a gap the tail must come back for."""
    c = seeded
    if c.store.backend != "postgresql":
        pytest.skip("SQLite serializes writers: no row ever commits below the mark")
    from convroute.storage.transaction import SqlTransaction

    who = principal(c, add_account(c))
    add_route(c, "a", 0.02)
    tail = SqlEventLog(c.store.engines)
    tail.poll(T0)
    cmd = SendMessage(who, "Acme", DST, "code", MessageType.OTP, True)
    with c.store.engines.writer.connect() as slow:
        transaction = slow.begin()
        (early,) = handle_batch(SqlTransaction(slow, c.store.box), [cmd], T0 + 1, router=c.router)
        late = send(c, who, T0 + 2)  # takes a higher seq, commits first
        first = tail.poll(T0 + 3)
        assert [d.message_id for d in first.decisions] == [late.message_id]
        transaction.commit()
    assert isinstance(early, MessageAccepted)
    second = tail.poll(T0 + 4)
    assert [d.message_id for d in second.decisions] == [early.message_id]
    assert not tail.poll(T0 + 5).decisions


def test_a_late_report_corrects_the_window_close(seeded: Container) -> None:
    c = seeded
    who = principal(c, add_account(c))
    add_route(c, "only", 0.02)
    sent = [send(c, who, T0 + i) for i in range(40)]
    closes_at = T0 + 11 * 60_000  # after the 10-minute OTP window
    c.store.write(lambda tx: close_due_windows(tx, closes_at))
    sync(c, closes_at)
    dest = parse_destination(DST)

    def estimate(now: int) -> float:
        (q,) = route_qualities(
            c.router, c.store.routes(), dest, MessageType.OTP, TrafficClass.TWO_FA, now
        )
        return q.estimate

    closed = estimate(closes_at)
    assert closed < 0.1  # forty windows closed unconverted
    late = [
        RecordConversion(who, m.message_id, ConversionStatus.CONVERTED, event_ms=T0 + 30_000)
        for m in sent[:30]
    ]
    run(c, late, closes_at + 1000)  # type: ignore[arg-type]
    sync(c, closes_at + 1000)
    assert estimate(closes_at + 1000) > 0.6  # thirty of forty converted after all


def test_every_basis_of_an_estimate_has_words_for_operators() -> None:
    from convroute.routing.base import Basis, View
    from convroute.routing.estimates import Estimate

    estimate = Estimate(0.8, 100.0, None, 100.0)
    best = View("a", estimate, Basis.LONG_TERM, 0.8, 0.85, 0.9)
    for basis in Basis:
        other = View("b", estimate, basis, 0.7, 0.75, 0.1)
        assert reason(other, best, "convroute").startswith("explored")
    pumped = View("b", estimate, Basis.PUMPING, 0.7, 0.75, 0.1)
    assert "pumping" in reason(pumped, best, "convroute")


def test_beside_a_policy_without_a_pumping_watch_the_router_feeds_a_watch_of_its_own() -> None:
    default = live_router(Settings())
    assert default.watch is not None
    assert default.watch.ledger is default.policy.ledger  # one ledger: nothing counted twice
    router = live_router(Settings(routing_policy="epsilon-greedy"))
    watch = router.watch
    assert watch is not None
    assert watch.ledger is not router.policy.ledger
    decision = LoggedDecision("m1", "r1", "GB", None, MessageType.OTP, TrafficClass.TWO_FA, 1_000)
    router.apply(LogBatch([decision], dlrs=[LoggedDlr("m1", DlrStatus.DELIVERED, 2_000)]))
    record = watch.ledger.records["m1"]
    assert record.dlr is not None  # the receipt reached the watch's ledger too


def _day(fails_at_s: int, seconds: int = 2400) -> tuple[LogBatch, int]:
    """A log read at start-up: one GB message a second on r1/r2/r3 (converting at 88, 84,
    80 %, after 20 s, or a window close at 300 s), every receipt delivered, r2 converting
    nothing from ``fails_at_s``. The batch and its first second (ms)."""
    rng = random.Random(7)
    start = 1_800_000_000_000
    rates = {"r1": 0.88, "r2": 0.84, "r3": 0.80}
    decisions, conversions, dlrs = [], [], []
    for second in range(seconds):
        now = start + second * 1000
        route = rng.choice(list(rates))
        decisions.append(
            LoggedDecision(
                f"m{second}", route, "GB", None, MessageType.OTP, TrafficClass.TWO_FA, now
            )
        )
        dlrs.append(LoggedDlr(f"m{second}", DlrStatus.DELIVERED, now + 5000))
        rate = 0.0 if route == "r2" and second >= fails_at_s else rates[route]
        if rng.random() < rate:
            conversions.append(
                LoggedConversion(f"m{second}", ConversionStatus.CONVERTED, now + 20_000)
            )
        else:
            conversions.append(
                LoggedConversion(f"m{second}", ConversionStatus.NOT_CONVERTED, now + 300_000)
            )
    return LogBatch(decisions, conversions, dlrs), start


def test_the_start_up_read_is_replayed_so_anomalies_are_dated_as_they_happened() -> None:
    """A router that starts after r2 failed (the log read at once) raises r2's drop dated
    within minutes of the failure, as a router that had been running would have; its
    statistics are those of reading the batch at once (to the rounding of the running sums)."""
    batch, start = _day(fails_at_s=1500)
    end = start + 2700 * 1000  # the last window closed
    replayed = live_router(Settings())
    replayed.replay(batch)
    assert replayed.applied == len(batch)
    assert replayed.watch is not None
    drops = [a for a in replayed.watch.episodes() if a.kind == "conversion_drop"]
    assert [(a.route_id, a.active) for a in drops] == [("r2", True)]
    assert start + 1500_000 < drops[0].started_ms <= start + 1800_000
    at_once = live_router(Settings())
    at_once.apply(batch)
    # (the delay learned: at once, every decision came before any conversion, so the fits
    # their times passed saw none; the next cut's fit sees them all, as the replay's does)
    later = end + 660_000
    for router in (at_once, replayed):
        router.policy.ledger.advance(later)
    assert at_once.policy.ledger.delay == pytest.approx(replayed.policy.ledger.delay)
    context, ids = Context("GB", None, "otp"), ["r1", "r2", "r3"]
    for a, b in zip(
        at_once.policy.ledger.own(context, ids, later),
        replayed.policy.ledger.own(context, ids, later),
        strict=True,
    ):
        assert (a.mean, a.exposure, a.sent, a.receipts) == pytest.approx(
            (b.mean, b.exposure, b.sent, b.receipts), rel=1e-9
        )
        assert a.calibration == pytest.approx(b.calibration, rel=1e-9)
