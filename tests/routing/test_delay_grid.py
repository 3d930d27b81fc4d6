"""The delay learned on a grid (``DelayLearner``, the service's router's and the simulator's
policies'): a fit is a function of its cut and of the conversions told, not of the order or
moments they came in."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convroute.config import Settings
from convroute.domain.statuses import ConversionStatus, MessageType, TrafficClass
from convroute.routing.delay import ConversionDelay
from convroute.routing.delay_learn import DelayLearner
from convroute.routing.estimates import Ledger
from convroute.services.ports import LogBatch, LoggedConversion, LoggedDecision
from tests.routing.test_delay_learn import WINDOW, _stream

GRID_S = 600.0


def _grid_ledger(told: float) -> Ledger:
    ledger = Ledger(ConversionDelay(told, 1.0, WINDOW), tau_s=3600.0)
    ledger.learner = DelayLearner(ledger.delay, every_s=GRID_S)
    return ledger


@pytest.mark.parametrize("told", [80.0, 5.0])
def test_on_a_grid_a_prior_four_times_off_is_left_for_the_delay_the_conversions_show(
    told: float,
) -> None:
    ledger = _grid_ledger(told)
    _stream(ledger, 4000, 0.6, 20.0, 1.0)
    assert ledger.delay.median_s == pytest.approx(20.0, rel=0.15)
    assert ledger.delay.sigma == pytest.approx(1.0, abs=0.15)
    assert ledger.learner is not None
    # at most one fit a cut, 60 s after it: every minute until 1,000 conversions happened
    # (about 1,700 s in at 0.6 a second), then every 600 s
    assert 20 <= ledger.learner.fits <= 1700 // 60 + 4000 // 600 + 2
    assert ledger.learner.earliest is None  # (the early cuts are over)


def test_cuts_come_every_minute_until_early_until_conversions_happened_then_every_every_s() -> None:
    learner = DelayLearner(ConversionDelay(20.0, 1.0, WINDOW), every_s=600.0,
                           early_until=50)  # fmt: skip
    cuts = []
    for t in range(3600):  # a conversion every 10 s, 5 s after its message: the 50th at 490 s
        now = t * 1000
        if t % 10 == 0:
            learner.add(now - 5000, now)
        if learner.due(now):
            learner.fit(now)
            cuts.append(learner.cut_ms)
    # from the first conversion's minute, early cuts up to the last minute before the 50th
    # conversion, then the regular ones
    assert cuts == [60_000 * k for k in range(9)] + [600_000 * k for k in range(1, 6)]


def _conversions(seed: int, count: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        sent = rng.randrange(0, 3_000_000)
        delay = int(math.exp(math.log(30.0) + 0.8 * rng.gauss(0, 1)) * 1000)
        out.append((sent, delay))
    return out


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    count=st.integers(1, 400),
    polls=st.integers(1, 40),
    early_until=st.integers(0, 450),
)
def test_a_fit_on_a_grid_does_not_depend_on_the_order_or_moments_conversions_came_in(
    seed: int, count: int, polls: int, early_until: int
) -> None:
    """One learner is told each conversion as it happens, fitting at every cut its time
    passes (a live router reading the log as it grows); another is told them all at once, in
    another order, and fits once (a router reading the log at start-up). At the last cut
    their fits are the same, early cuts (fewer than ``early_until`` conversions before
    them) or regular ones."""
    prior = ConversionDelay(20.0, 1.0, WINDOW)
    conversions = _conversions(seed, count)
    end = 3_000_000 + int(WINDOW * 1000) + 120_000
    live = DelayLearner(prior, every_s=GRID_S, early_until=early_until)
    by_time = sorted(conversions, key=lambda c: c[0] + c[1])
    reads = sorted(random.Random(seed).sample(range(end), polls))
    told = 0
    for now in [*reads, end]:
        while told < len(by_time) and sum(by_time[told]) <= now:
            live.add(by_time[told][0], sum(by_time[told]))
            told += 1
        if live.due(now):
            live.fit(now)
    at_once = DelayLearner(prior, every_s=GRID_S, early_until=early_until)
    for sent, delay in random.Random(seed + 1).sample(conversions, len(conversions)):
        at_once.add(sent, sent + delay)
    if at_once.due(end):
        at_once.fit(end)
    assert live.cut_ms == at_once.cut_ms
    assert live.fitted is not None
    assert at_once.fitted is not None
    assert live.fitted.conversions == at_once.fitted.conversions
    assert live.delay.median_s == pytest.approx(at_once.delay.median_s, rel=1e-6)
    assert live.delay.sigma == pytest.approx(at_once.delay.sigma, rel=1e-6)


def _log(median_s: float) -> LogBatch:
    """Two hours of one GB message every 2 s on r1, 70 % converting after a log-normal delay
    of ``median_s`` (sigma 0.8), the rest closed at the 600 s window."""
    rng = random.Random(3)
    start = 1_800_000_000_000
    decisions, conversions = [], []
    for k in range(3600):
        sent = start + k * 2000
        decisions.append(
            LoggedDecision(f"m{k}", "r1", "GB", None, MessageType.OTP, TrafficClass.TWO_FA, sent)
        )
        if rng.random() < 0.7:
            delay = min(590.0, math.exp(math.log(median_s) + 0.8 * rng.gauss(0, 1)))
            conversions.append(
                LoggedConversion(f"m{k}", ConversionStatus.CONVERTED, sent + int(delay * 1000))
            )
        else:
            conversions.append(
                LoggedConversion(f"m{k}", ConversionStatus.NOT_CONVERTED, sent + 600_000)
            )
    return LogBatch(decisions, conversions, [])


def _in_polls(batch: LogBatch, every_ms: int) -> list[tuple[int, LogBatch]]:
    """The log as a follower reads it, every ``every_ms``: what happened since the last
    read (decisions at their send, conversions at their time)."""
    ends = [d.sent_ms for d in batch.decisions] + [c.event_ms for c in batch.conversions]
    first, last = min(ends), max(ends)
    polls = []
    for at in range(first - first % every_ms, last + every_ms, every_ms):
        polls.append((at, LogBatch(
            [d for d in batch.decisions if at - every_ms < d.sent_ms <= at],
            [c for c in batch.conversions if at - every_ms < c.event_ms <= at], [],
        )))  # fmt: skip
    return polls


def test_the_service_router_learns_the_delay_whether_it_followed_the_log_or_read_it_at_once() -> (
    None
):
    """The service's users convert after about 90 s; it was told 20 s. A router that
    followed the log as it grew and one that read it at start-up both use the delay the
    conversions show, the same one; with learning off, the router keeps what it was told."""
    from convroute.bootstrap import live_router

    batch = _log(90.0)
    following = live_router(Settings())
    for at, poll in _in_polls(batch, 5_000):
        following.apply(poll)
        following.policy.ledger.advance(at)
    end = max(c.event_ms for c in batch.conversions)
    started = live_router(Settings())
    started.replay(batch)
    fixed = live_router(Settings(routing_learn_delay=False))
    fixed.replay(batch)
    for router in (following, started, fixed):
        router.policy.ledger.advance(end + 60_000)
    learned = following.policy.ledger.delay
    assert learned.median_s == pytest.approx(90.0, rel=0.2)
    assert learned.window_s == 600.0
    assert started.policy.ledger.delay.median_s == pytest.approx(learned.median_s, rel=1e-6)
    assert started.policy.ledger.delay.sigma == pytest.approx(learned.sigma, rel=1e-6)
    assert fixed.policy.ledger.delay.median_s == 20.0
