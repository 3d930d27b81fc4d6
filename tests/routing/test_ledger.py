"""The ledger's invariants (Hypothesis): outcomes and decisions in any order, two memories in
one, cancelling a stretch of traffic; delay-corrected exposure, the piecewise-linear delay,
borrowing from wider contexts."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convroute.routing.delay import ConversionDelay
from convroute.routing.estimates import Ledger
from convroute.routing.policy import Context, Outcome, OutcomeKind
from tests.routing.streams import CTX, ROUTES, _events, _replay


@settings(max_examples=60, deadline=None)
@given(events=_events, seed=st.integers(0, 2**32 - 1))
def test_outcomes_in_any_order_give_the_same_state(
    events: list[tuple[int, int, OutcomeKind | None, int]], seed: int
) -> None:
    first, outcomes = _replay("convroute", events)
    second, _ = _replay("convroute", events)
    for outcome in outcomes:
        first.observe(outcome)
    shuffled = list(outcomes)
    random.Random(seed).shuffle(shuffled)
    for outcome in shuffled:
        second.observe(outcome)
    for route in ROUTES:
        a = first.ledger.estimate(CTX, route.route_id, 1_000_000)
        b = second.ledger.estimate(CTX, route.route_id, 1_000_000)
        assert a.mean == pytest.approx(b.mean, rel=1e-9, abs=1e-12)
        assert a.exposure == pytest.approx(b.exposure, rel=1e-9, abs=1e-12)
        assert (a.dlr_rate is None) == (b.dlr_rate is None)
        if a.dlr_rate is not None:
            assert a.dlr_rate == pytest.approx(b.dlr_rate)


def _assert_same_estimates(first: Ledger, second: Ledger, now: int, rel: float = 1e-9) -> None:
    """Both memories' estimates of every route agree (to rounding in the running sums)."""
    ids = [c.route_id for c in ROUTES]
    for memory in (0, 1):
        for a, b in zip(
            first.own(CTX, ids, now, memory), second.own(CTX, ids, now, memory), strict=True
        ):
            assert a.mean == pytest.approx(b.mean, rel=rel, abs=1e-9)
            assert a.exposure == pytest.approx(b.exposure, rel=rel, abs=1e-9)
            assert a.sent == pytest.approx(b.sent, rel=rel, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(events=_events, seed=st.integers(0, 2**32 - 1), now=st.integers(600_000, 2_000_000))
def test_decisions_recorded_late_give_the_same_state(
    events: list[tuple[int, int, OutcomeKind | None, int]], seed: int, now: int
) -> None:
    """A service also learns decisions from other instances' logs, late and out of order, while
    it reads its estimates: the state is that of the decisions recorded in time order."""
    in_order, late = Ledger(also_tau_s=(200.0,)), Ledger(also_tau_s=(200.0,))
    ordered = sorted(events, key=lambda e: e[1])
    for i, (route, sent, _, _) in enumerate(ordered):
        in_order.record(f"d{i}", CTX, ROUTES[route].route_id, sent)
    rng = random.Random(seed)
    shuffled = list(enumerate(ordered))
    rng.shuffle(shuffled)
    reads = sorted(rng.randrange(now + 1) for _ in shuffled)
    for (i, (route, sent, _, _)), read in zip(shuffled, reads, strict=True):
        late.record(f"d{i}", CTX, ROUTES[route].route_id, sent)
        late.own(CTX, [c.route_id for c in ROUTES], read)  # moves its decisions' ages on
    for i, (_, sent, kind, delay) in enumerate(ordered):
        if kind is not None:
            for ledger in (in_order, late):
                ledger.observe(Outcome(f"d{i}", kind, sent + delay))
    _assert_same_estimates(in_order, late, now)


def test_a_long_stream_with_late_decisions_keeps_its_sums() -> None:
    """Thousands of decisions (the settled ones are dropped from the schedule as it goes), a
    tenth of them recorded up to a minute late, read at every decision."""
    rng = random.Random(7)
    in_order, late = Ledger(also_tau_s=(200.0,)), Ledger(also_tau_s=(200.0,))
    held: list[tuple[int, int, str, int]] = []  # (when recorded, i, route, sent)
    converted: list[Outcome] = []
    for i in range(5_000):
        sent = i * 400
        route = ROUTES[rng.randrange(3)].route_id
        in_order.record(f"d{i}", CTX, route, sent)
        if rng.random() < 0.1:
            held.append((sent + rng.randrange(60_000), i, route, sent))
        else:
            late.record(f"d{i}", CTX, route, sent)
        for entry in [h for h in held if h[0] <= sent]:
            held.remove(entry)
            late.record(f"d{entry[1]}", CTX, entry[2], entry[3])
        if rng.random() < 0.3:
            converted.append(Outcome(f"d{i}", OutcomeKind.CONVERTED, sent + rng.randrange(100_000)))
        late.own(CTX, [c.route_id for c in ROUTES], sent)
    for _, i, route, sent in held:
        late.record(f"d{i}", CTX, route, sent)
    for outcome in converted:
        in_order.observe(outcome)
        late.observe(outcome)
    for now in (2_000_000, 2_100_000, 2_400_000):
        _assert_same_estimates(in_order, late, now)


@settings(max_examples=60, deadline=None)
@given(events=_events, now=st.integers(0, 2_000_000))
def test_a_ledger_of_two_memories_is_two_ledgers_in_one(
    events: list[tuple[int, int, OutcomeKind | None, int]], now: int
) -> None:
    """The decisions and their schedule are kept once; each memory's sums are exactly those of
    a ledger of that memory alone."""
    both = Ledger(tau_s=3600.0, also_tau_s=(20.0,))
    alone = [Ledger(tau_s=3600.0), Ledger(tau_s=20.0)]
    ordered = sorted(events, key=lambda e: e[1])
    outcomes = []
    for i, (route, sent, kind, delay) in enumerate(ordered):
        for ledger in (both, *alone):
            ledger.record(f"d{i}", CTX, ROUTES[route].route_id, sent)
        if kind is not None:
            outcomes.append(Outcome(f"d{i}", kind, sent + delay))
    for outcome in outcomes:
        for ledger in (both, *alone):
            ledger.observe(outcome)
    ids = [c.route_id for c in ROUTES]
    for memory, ledger in enumerate(alone):
        assert both.own(CTX, ids, now, memory) == ledger.own(CTX, ids, now)


@settings(max_examples=60, deadline=None)
@given(
    events=_events,
    window=st.tuples(st.integers(0, 600_000), st.integers(0, 600_000)),
    now=st.integers(0, 2_000_000),
)
def test_cancelling_a_stretch_of_traffic_is_never_having_seen_it(
    events: list[tuple[int, int, OutcomeKind | None, int]], window: tuple[int, int], now: int
) -> None:
    start, end = sorted(window)
    cancelled, never = Ledger(also_tau_s=(200.0,)), Ledger(also_tau_s=(200.0,))
    outcomes = []
    for i, (route, sent, kind, delay) in enumerate(sorted(events, key=lambda e: e[1])):
        cancelled.record(f"d{i}", CTX, ROUTES[route].route_id, sent)
        if not start <= sent <= end:
            never.record(f"d{i}", CTX, ROUTES[route].route_id, sent)
        if kind is not None:
            outcomes.append(Outcome(f"d{i}", kind, sent + delay))
    for outcome in outcomes:
        cancelled.observe(outcome)
        never.observe(outcome)
    inside = sum(
        1
        for _, sent, kind, _ in events
        if start <= sent <= end and kind is not OutcomeKind.CANCELED
    )
    assert cancelled.cancel_sent_between(CTX, start, end) == inside
    assert cancelled.cancel_sent_between(Context("FR", None, "otp"), start, end) == 0
    _assert_same_estimates(cancelled, never, now, rel=1e-6)


def test_young_messages_are_not_failures() -> None:
    ledger = Ledger(ConversionDelay(median_s=20, sigma=1.0, window_s=300), tau_s=None)
    for i in range(100):
        ledger.record(f"d{i}", CTX, "a", 0)
    young = ledger.estimate(CTX, "a", 1_000)  # one second later: nothing could convert yet
    assert young.exposure < 5
    assert young.mean > 0.25  # near the prior, not "0 out of 100"
    for i in range(100):
        ledger.observe(Outcome(f"d{i}", OutcomeKind.NOT_CONVERTED, 300_000))
    assert ledger.estimate(CTX, "a", 300_000).mean < 0.02


def test_delay_corrected_estimate_is_unbiased_midway() -> None:
    delay = ConversionDelay(median_s=20, sigma=1.0, window_s=300)
    ledger, rng = Ledger(delay, tau_s=None), random.Random(3)
    true_rate, n = 0.6, 4000
    for i in range(n):
        ledger.record(f"d{i}", CTX, "a", 0)
        if rng.random() < true_rate:
            # a conversion delay drawn from the same log-normal, within the window
            while (delay_s := math.exp(math.log(20) + rng.gauss(0, 1))) > 300:
                pass
            if delay_s <= 20:  # observed at t = 20 s: only the conversions that happened
                ledger.observe(Outcome(f"d{i}", OutcomeKind.CONVERTED, int(delay_s * 1000)))
    midway = ledger.estimate(CTX, "a", 20_000)
    assert midway.mean == pytest.approx(true_rate, abs=0.05)


def test_canceled_decisions_leave_the_statistics() -> None:
    ledger = Ledger(tau_s=None)
    ledger.record("x", CTX, "a", 0)
    ledger.observe(Outcome("x", OutcomeKind.NOT_CONVERTED, 300_000))
    ledger.observe(Outcome("x", OutcomeKind.CANCELED, 1_000))
    estimate = ledger.estimate(CTX, "a", 400_000)
    assert estimate.exposure == pytest.approx(0)
    assert estimate.sent == pytest.approx(0)


def test_piecewise_linear_delay_is_within_two_points_of_the_distribution() -> None:
    delay = ConversionDelay()
    ledger = Ledger(delay, tau_s=None)
    ledger.record("x", CTX, "a", 0)
    for age_ms in range(0, 300_000, 997):
        exposure = ledger._pending_exposure(ledger.arms[(CTX, "a")], age_ms)
        assert exposure == pytest.approx(delay.cdf(age_ms / 1000), abs=0.02)
    assert ledger.estimate(CTX, "a", 300_000).exposure == pytest.approx(1.0)  # settled


def test_sparse_destinations_borrow_from_the_country_then_everywhere() -> None:
    ledger = Ledger(tau_s=None)
    busy, sparse = Context("GB", "EE", "otp"), Context("GB", "O2", "otp")
    for i in range(400):
        route = "a" if i % 2 else "b"
        ledger.record(f"d{i}", busy, route, 0)
        converted = (route == "a" and i % 10 != 1) or (route == "b" and i % 10 in (0, 2))
        kind = OutcomeKind.CONVERTED if converted else OutcomeKind.NOT_CONVERTED
        ledger.observe(Outcome(f"d{i}", kind, 1_000))
    a, b = ledger.estimates(sparse, ["a", "b"], 400_000)  # nothing sent on O2 yet
    assert a.mean == pytest.approx(0.8, abs=0.03)  # the country's figures, not 0.5
    assert b.mean == pytest.approx(0.4, abs=0.03)
    assert a.exposure == 0
    # a new country borrows from the route's figures everywhere
    (fr,) = ledger.estimates(Context("FR", None, "otp"), ["a"], 400_000)
    assert fr.mean == pytest.approx(0.8, abs=0.03)
    # a destination with its own evidence keeps it
    (own,) = ledger.estimates(busy, ["b"], 400_000)
    assert own.exposure == pytest.approx(200)
