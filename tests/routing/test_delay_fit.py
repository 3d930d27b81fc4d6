"""The conversion delay learned from the conversions a log shows, right-truncated where each
was seen, with the configured delay as a prior only."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convroute.routing.delay import ConversionDelay
from convroute.routing.delay_fit import fit_delay


def _seen(
    median_s: float, sigma: float, n: int, seed: int, window_s: float = 300.0, span: float = 2.0
) -> list[tuple[float, float]]:
    """What a log read at one moment shows: messages of ages uniform over ``span`` windows,
    each with a converter whose delay is log-normal; a conversion is seen if it happened by
    then."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        age = rng.uniform(0, span * window_s)
        delay = math.exp(math.log(median_s) + sigma * rng.gauss(0, 1))
        horizon = min(age, window_s)
        if delay <= horizon:
            out.append((delay, horizon))
    return out


def test_the_truth_is_found_where_the_delays_seen_mislead() -> None:
    seen = _seen(60.0, 1.0, 4000, seed=1, span=1.0)  # a young log: the first window's traffic
    naive = statistics.median(d for d, _ in seen)
    assert naive < 0.8 * 60  # young messages show only their fast converters
    prior = ConversionDelay(15.0, 1.0, 300.0)  # off by 4x
    fit = fit_delay(seen, prior)
    assert fit.conversions == 4000
    assert fit.delay.median_s == pytest.approx(60, rel=0.1)
    assert fit.delay.sigma == pytest.approx(1.0, abs=0.1)
    assert fit.delay.window_s == 300.0


def test_a_prior_off_four_times_the_other_way_is_left_too() -> None:
    fit = fit_delay(_seen(20.0, 1.0, 3000, seed=2), ConversionDelay(80.0, 1.0, 300.0))
    assert fit.delay.median_s == pytest.approx(20, rel=0.1)


def test_without_conversions_the_prior_stands_and_a_few_move_it_little() -> None:
    prior = ConversionDelay(20.0, 1.0, 300.0)
    assert fit_delay([], prior).delay == prior
    few = fit_delay(_seen(120.0, 1.0, 3, seed=3), prior)
    assert 15 < few.delay.median_s < 60  # 3 conversions against 20 pseudo-conversions
    many = fit_delay(_seen(120.0, 1.0, 3000, seed=3), prior)
    assert many.delay.median_s == pytest.approx(120, rel=0.12)


@settings(max_examples=25, deadline=None)
@given(
    st.floats(min_value=5, max_value=150),
    st.floats(min_value=0.4, max_value=1.8),
    st.integers(min_value=0, max_value=10_000),
)
def test_the_fit_is_a_delay_the_engine_can_use(median: float, sigma: float, seed: int) -> None:
    fit = fit_delay(_seen(median, sigma, 300, seed), ConversionDelay(20.0, 1.0, 300.0))
    d = fit.delay
    assert 0 < d.median_s < 1e6
    assert 0.04 < d.sigma < 5
    assert d.cdf(d.window_s) == 1.0
    assert 0 <= d.cdf(d.median_s) <= 1
