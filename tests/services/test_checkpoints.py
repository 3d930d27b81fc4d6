"""Checkpoints of the live router: a checkpoint (the state as of a position in the log) plus
the log after it gives the router a full replay of the whole log gives (issue 20), over the
synthetic log here and over real stores (SQLite, PostgreSQL); a checkpoint is only used when
its signature verifies and it was made for the routing code and settings in use."""

from __future__ import annotations

import dataclasses
import itertools
import math
import pickle
import random
import zlib

import pytest

from convroute.bootstrap import Container, checkpointing, live_router, make_checkpoint
from convroute.config import Settings
from convroute.domain.commands import MessageAccepted, RecordConversion, SendMessage
from convroute.domain.models import Principal
from convroute.domain.statuses import ConversionStatus, DlrStatus, MessageType, TrafficClass
from convroute.routing import ledger_state
from convroute.routing.policy import Candidate, Context
from convroute.services.checkpoints import FRESH, Checkpointing, signing_key
from convroute.services.follower import LogFollower
from convroute.services.messaging import close_due_windows
from convroute.services.ports import (
    LogBatch,
    LoggedConversion,
    LoggedDecision,
    LoggedDlr,
)
from convroute.services.router import LiveRouter
from convroute.services.writer import handle_batch
from convroute.storage.checkpoints import SqlCheckpoints
from convroute.storage.tail import SqlEventLog

HOUR = 3_600_000
T0 = 1_800_000_000_000
ROUTES = ["r0", "r1", "r2"]


def synthetic_log(hours: float, rate: float, places: int, seed: int = 3) -> LogBatch:
    """``hours`` of traffic at ``rate`` messages/s over ``places`` destinations; route r0
    stops converting for its last 40 minutes (a drop the watch raises)."""
    rng = random.Random(seed)
    quality = {"r0": 0.8, "r1": 0.6, "r2": 0.5}
    end = T0 + int(hours * HOUR)
    decisions, conversions, dlrs = [], [], []
    for i in range(int(hours * 3600 * rate)):
        sent = T0 + int(i * 1000 / rate)
        country, network = ("GB", f"n{rng.randrange(places)}")
        route = ROUTES[rng.randrange(3)]
        mid = f"m{i}"
        decisions.append(LoggedDecision(mid, route, country, network, MessageType.OTP,
                                        TrafficClass.TWO_FA, sent))  # fmt: skip
        dlrs.append(LoggedDlr(mid, DlrStatus.DELIVERED, sent + 3_000))
        dead = route == "r0" and sent > end - 40 * 60_000
        if not dead and rng.random() < quality[route]:
            conversions.append(LoggedConversion(mid, ConversionStatus.CONVERTED, sent + 12_000))
        else:
            conversions.append(
                LoggedConversion(mid, ConversionStatus.NOT_CONVERTED, sent + 600_000)
            )
    # what the log holds at its end: nothing reported later than the last send
    last = max(d.sent_ms for d in decisions)
    return LogBatch(
        decisions,
        [c for c in conversions if c.event_ms <= last],
        [r for r in dlrs if r.event_ms <= last],
    )


def split(log: LogBatch, at_ms: int) -> tuple[LogBatch, LogBatch]:
    """What the log held at ``at_ms``, and what it gained after."""
    return log.between(-math.inf, at_ms), log.between(at_ms, math.inf)


def through_pickle(router: LiveRouter, settings: Settings) -> LiveRouter:
    """A new router from ``router``'s state, as a checkpoint carries it."""
    blob = zlib.compress(pickle.dumps(router.state(), protocol=5), 1)
    fresh = live_router(settings)
    fresh.restore(pickle.loads(zlib.decompress(blob)))  # noqa: S301 (our own)
    return fresh


def assert_same(a: LiveRouter, b: LiveRouter, now_ms: int, routes: list[str] = ROUTES) -> None:
    """The same estimates of every route everywhere, the same shares, the same anomalies."""
    contexts = sorted(set(a.policy.ledger._by_context[0]), key=repr)
    assert contexts
    assert contexts == sorted(set(b.policy.ledger._by_context[0]), key=repr)
    for context in contexts:
        candidates = [Candidate(r, 0.0) for r in routes]
        views_a, long_a = a.read(context, candidates, now_ms)
        views_b, long_b = b.read(context, candidates, now_ms)
        for x, y in zip(long_a, long_b, strict=True):
            assert x.mean == pytest.approx(y.mean, rel=1e-6, abs=1e-9), context
            assert x.exposure == pytest.approx(y.exposure, rel=1e-6, abs=1e-9), context
            assert x.sent == pytest.approx(y.sent, rel=1e-6, abs=1e-9), context
        for v, w in zip(views_a, views_b, strict=True):
            assert v.basis == w.basis, context
            assert v.probability == pytest.approx(w.probability, abs=0.02), context
    assert a.watch is not None
    assert b.watch is not None

    def anomalies(r: LiveRouter) -> list[tuple[str, Context, str | None, bool]]:
        assert r.watch is not None
        return sorted(
            ((e.kind, e.context, e.route_id, e.active) for e in r.watch.episodes()), key=repr
        )

    assert anomalies(a) == anomalies(b)


@pytest.mark.parametrize("tail_minutes", [5, 30, 90])
def test_a_checkpoint_and_the_tail_give_what_a_full_replay_gives(tail_minutes: int) -> None:
    settings = Settings()
    log = synthetic_log(hours=3, rate=0.5, places=6)
    end = max(d.sent_ms for d in log.decisions) + 1
    at = end - tail_minutes * 60_000
    before, after = split(log, at)

    full = live_router(settings)
    full.replay(log)
    full.advance(end)

    made = live_router(settings)
    made.replay(before)
    restored = through_pickle(made, settings)
    restored.replay(after)
    restored.advance(end)

    assert restored.applied == full.applied == len(log)
    assert any(e.active for e in full.watch.episodes())  # type: ignore[union-attr]
    assert_same(full, restored, end)


def test_checkpoints_chain_and_the_ledger_keeps_its_decisions_in_order() -> None:
    settings = Settings()
    log = synthetic_log(hours=2.5, rate=0.5, places=4, seed=5)
    end = max(d.sent_ms for d in log.decisions) + 1
    cuts = [0, *(end - m * 60_000 for m in (70, 40, 10)), end]
    router = live_router(settings)
    seen = 0
    for lo, hi in itertools.pairwise(cuts):
        part = log.between(lo, hi)
        router.replay(part)  # each checkpoint made from the one before and the log since
        seen += len(part)
        router = through_pickle(router, settings)
        ledger = router.policy.ledger
        assert list(ledger._order) == list(ledger.records.values())
    full = live_router(settings)
    full.replay(log)
    router.advance(end)
    full.advance(end)
    assert seen == len(log)
    assert_same(full, router, end)


def test_the_ledger_state_names_every_attribute_of_the_ledger() -> None:
    ledger = live_router(Settings()).policy.ledger
    kept = set(ledger_state.PLAIN) | set(ledger_state.DECISIONS) | {"_places"}
    assert set(vars(ledger)) == kept


# -- over a real store -------------------------------------------------------------------------

DESTINATIONS = ["+447700900123", "+447700900456", "+14155552671"]


def traffic(c: Container, who: Principal, start_ms: int, batches: int, seed: int) -> int:
    """Ten messages every 10 s from ``start_ms``, routed by the container's router; a message
    converts 15 s later on route ``cheap`` with probability 0.7, on ``dear`` 0.4; windows are
    closed as they end. The time it ended."""
    rng = random.Random(seed)
    pending: list[tuple[int, str]] = []
    now = start_ms
    for batch in range(batches):
        now = start_ms + batch * 10_000
        sends = [
            SendMessage(who, "Acme", rng.choice(DESTINATIONS), "code", MessageType.OTP, True)
            for _ in range(10)
        ]
        for out in routed(c, sends, now):
            assert isinstance(out, MessageAccepted)
            rate = 0.7 if out.route_name == "cheap" else 0.4
            if rng.random() < rate:
                pending.append((now + 15_000, out.message_id))
        due = [m for at, m in pending if at <= now]
        pending = [(at, m) for at, m in pending if at > now]
        reports = [RecordConversion(who, m, ConversionStatus.CONVERTED, event_ms=now) for m in due]
        if reports:
            routed(c, reports, now)
        c.store.write(lambda tx, now=now: close_due_windows(tx, now))
        c.follower.catch_up(now)
    return now


def routed(c: Container, commands: list[object], now: int) -> list[object]:
    return c.store.write(
        lambda tx: handle_batch(tx, commands, now, router=c.router)  # type: ignore[arg-type]
    )


def started(c: Container, now_ms: int, checkpoints: Checkpointing | None) -> tuple[LiveRouter, int]:
    """A server's router at start: from the latest checkpoint (with ``checkpoints``) and the
    log since, or from the whole log; and how many entries it read."""
    router = live_router(c.settings)
    follower = LogFollower(SqlEventLog(c.store.engines), router, c.clock, 1.0, checkpoints)
    return router, follower.catch_up(now_ms)


T1 = T0 + 10 * HOUR


def test_a_server_starts_from_the_checkpoint_and_reads_only_the_log_since(
    container: Container, acme: Principal
) -> None:
    c = container
    middle = traffic(c, acme, T1, batches=40, seed=1)
    made = make_checkpoint(c, middle)
    assert made.since is None
    assert made.tail == made.checkpoint.applied > 400
    end = traffic(c, acme, middle + 10_000, batches=30, seed=2)

    restored, read = started(c, end, c.checkpoints)
    full, everything = started(c, end, None)
    assert read == everything - made.checkpoint.applied  # only what came after it
    assert restored.applied == full.applied == everything
    assert_same(full, restored, end, ["route-cheap", "route-dear"])

    # the next is made from this one and the log since; two are kept
    again = make_checkpoint(c, end)
    assert again.since is not None
    assert again.since.created_ms == middle
    assert again.tail == read
    assert again.checkpoint.applied == everything
    make_checkpoint(c, end + 1)
    assert [made for _, made, _, _ in SqlCheckpoints(c.store.engines).checkpoints()] == [
        end + 1,
        end,
    ]


def test_a_checkpoint_is_used_only_when_signed_with_the_key_for_this_code_and_settings(
    container: Container, acme: Principal
) -> None:
    c = container
    end = traffic(c, acme, T1, batches=20, seed=3)
    made = make_checkpoint(c, end)
    entries = made.checkpoint.applied
    store = SqlCheckpoints(c.store.engines)

    # another key (as whoever can write to the database but lacks the service's key)
    forged = Checkpointing(store, c.checkpoints.routing_key, signing_key("not the key"))
    assert not forged.verified(made.checkpoint)
    assert started(c, end, forged)[1] == entries  # the whole log, nothing unpickled
    # a signed state that is not a router's (other code): refused, the log read in full
    state = zlib.compress(pickle.dumps({"not": "a router"}))
    digest = c.checkpoints.sign(made.checkpoint.position, entries, state)
    store.save_checkpoint(
        dataclasses.replace(made.checkpoint, created_ms=end + 1, digest=digest, state=state)
    )
    assert c.checkpoints.verified(store.latest_checkpoint(c.checkpoints.routing_key))  # type: ignore[arg-type]
    router, read = started(c, end + 1, c.checkpoints)
    assert read == entries
    assert router.applied == entries
    # other routing settings: not this checkpoint (a full replay)
    slower = dataclasses.replace(c.settings, routing_window_seconds=900.0)
    other_key = checkpointing(slower, c.store)
    assert other_key.routing_key != c.checkpoints.routing_key
    assert other_key.store.latest_checkpoint(other_key.routing_key) is None
    assert FRESH["decisions"] == {"high": None, "gaps": []}
