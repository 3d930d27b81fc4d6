"""The delay a ledger learns from its conversions (``delay_learn``, ``relearn``): the configured
delay is only a prior."""

from __future__ import annotations

import math
import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convroute.routing.delay import ConversionDelay
from convroute.routing.estimates import Ledger
from convroute.routing.policy import Context, Outcome, OutcomeKind

CTX = Context("GB")
WINDOW = 300.0


def _stream(
    ledger: Ledger, seconds: int, rate: float, median: float, sigma: float, seed: int = 1
) -> None:
    """One decision a second on one route; a share ``rate`` converts after a log-normal
    delay (within the window), the rest are closed at the window; every outcome is told in
    time order, and the ledger's time passes with each decision."""
    rng = random.Random(seed)
    due: list[tuple[int, Outcome]] = []
    for t in range(seconds):
        now = t * 1000
        due.sort(key=lambda x: x[0])
        while due and due[0][0] <= now:
            ledger.observe(due.pop(0)[1])
        ledger.advance(now)
        ledger.record(f"d{t}", CTX, "a", now)
        if rng.random() < rate:
            while (delay_s := math.exp(math.log(median) + sigma * rng.gauss(0, 1))) > WINDOW:
                pass
            at = now + int(delay_s * 1000)
            due.append((at, Outcome(f"d{t}", OutcomeKind.CONVERTED, at)))
        else:
            at = now + int(WINDOW * 1000)
            due.append((at, Outcome(f"d{t}", OutcomeKind.NOT_CONVERTED, at)))


@pytest.mark.parametrize("told", [80.0, 5.0])
def test_a_prior_four_times_off_is_left_for_the_delay_the_conversions_show(told: float) -> None:
    ledger = Ledger(ConversionDelay(told, 1.0, WINDOW), tau_s=3600.0, learn_delay=True)
    _stream(ledger, 4000, 0.6, 20.0, 1.0)
    learned = ledger.delay
    assert learned.median_s == pytest.approx(20.0, rel=0.15)
    assert learned.sigma == pytest.approx(1.0, abs=0.15)
    assert learned.window_s == WINDOW
    assert ledger.learner is not None
    assert ledger.learner.fits >= 5


@pytest.mark.parametrize("told", [80.0, 20.0, 5.0])
def test_with_the_delay_learned_the_estimate_is_right_before_the_windows_close(
    told: float,
) -> None:
    # a memory of 2 minutes (a policy's fast one) rests on decisions whose window is open
    ledger = Ledger(ConversionDelay(told, 1.0, WINDOW), tau_s=120.0, learn_delay=True)
    _stream(ledger, 900, 0.7, 20.0, 1.0, seed=4)
    learned = ledger.estimate(CTX, "a", 900_000).mean
    assert learned == pytest.approx(0.7, abs=0.04)
    fixed = Ledger(ConversionDelay(told, 1.0, WINDOW), tau_s=120.0, learn_delay=False)
    _stream(fixed, 900, 0.7, 20.0, 1.0, seed=4)
    if told != 20.0:  # (what the prior alone said: far off)
        assert abs(fixed.estimate(CTX, "a", 900_000).mean - 0.7) > 3 * abs(learned - 0.7)


def test_conversions_reported_at_once_do_not_read_as_every_message_converting() -> None:
    # a live server whose customer reports each conversion the moment it is sent: a prior of
    # 20 s read them as a rate of 1.0 until the windows closed
    ledger = Ledger(ConversionDelay(20.0, 1.0, WINDOW), tau_s=None, learn_delay=True)
    _stream(ledger, 240, 0.92, 0.2, 0.3, seed=2)
    assert ledger.delay.median_s < 1.0
    assert ledger.estimate(CTX, "a", 240_000).mean == pytest.approx(0.92, abs=0.05)


def test_the_delay_learned_is_a_function_of_the_log() -> None:
    full = Ledger(ConversionDelay(80.0, 1.0, WINDOW), learn_delay=True)
    _stream(full, 1500, 0.6, 20.0, 1.0, seed=3)
    again = Ledger(ConversionDelay(80.0, 1.0, WINDOW), learn_delay=True)
    _stream(again, 1500, 0.6, 20.0, 1.0, seed=3)
    assert again.delay == full.delay
    restored = pickle.loads(pickle.dumps(full))  # noqa: S301 (what a checkpoint keeps)
    assert restored.delay == full.delay
    assert restored.learner is not None
    assert full.learner is not None
    assert restored.learner.fitted == full.learner.fitted
    assert restored.estimate(CTX, "a", 1_500_000) == full.estimate(CTX, "a", 1_500_000)


def test_without_a_window_nothing_is_learned() -> None:
    assert Ledger(ConversionDelay(20.0, 1.0, 0.0), learn_delay=True).learner is None
    assert Ledger().learner is None


@settings(max_examples=40, deadline=None)
@given(
    sends=st.lists(st.integers(0, 900_000), min_size=1, max_size=120),
    closed=st.sets(st.integers(0, 119)),
    switch_ms=st.integers(0, 1_300_000),
    read_ms=st.integers(0, 400_000),
    median=st.floats(0.5, 200.0),
    sigma=st.floats(0.2, 2.5),
)
def test_a_ledger_moved_to_a_delay_reads_as_one_built_with_it(
    sends: list[int],
    closed: set[int],
    switch_ms: int,
    read_ms: int,
    median: float,
    sigma: float,
) -> None:
    """After ``use_delay``, every open decision's exposure is that of the new delay at its age,
    as in a ledger that had the new delay from the start."""
    new = ConversionDelay(median, sigma, WINDOW)
    moved = Ledger(ConversionDelay(20.0, 1.0, WINDOW), tau_s=600.0, learn_delay=False)
    built = Ledger(new, tau_s=600.0, learn_delay=False)
    for ledger in (moved, built):
        for i, sent in enumerate(sorted(sends)):
            ledger.record(f"d{i}", CTX, "a", sent)
            if i in closed:
                ledger.observe(Outcome(f"d{i}", OutcomeKind.NOT_CONVERTED, sent + 1))
        ledger.advance(switch_ms)
    moved.use_delay(new, switch_ms)
    at = switch_ms + read_ms
    a, b = moved.estimate(CTX, "a", at), built.estimate(CTX, "a", at)
    assert a.exposure == pytest.approx(b.exposure, rel=1e-9, abs=1e-9)
    assert a.mean == pytest.approx(b.mean, rel=1e-9, abs=1e-9)
    with pytest.raises(ValueError, match="window"):
        moved.use_delay(ConversionDelay(median, sigma, WINDOW * 2), at)
