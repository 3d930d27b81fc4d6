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
from convroute.routing.delay_fit import Likelihood, fit_delay


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


@settings(max_examples=40, deadline=None)
@given(
    st.floats(min_value=0.5, max_value=400),
    st.floats(min_value=0.1, max_value=3.0),
    st.integers(min_value=0, max_value=400),
    st.floats(min_value=0.05, max_value=3.0),
    st.integers(min_value=0, max_value=10_000),
)
def test_newtons_method_finds_the_profiles_optimum_or_better(
    median: float, sigma: float, n: int, span: float, seed: int
) -> None:
    """On the natural parameters the truncated log-likelihood is concave: Newton's method
    settles where the slow profile over sigma does, never lower; it gives way to the profile
    only where the data cannot place the median (the profile's then beyond 10 windows)."""
    rng = random.Random(seed)
    s = Likelihood()
    for _ in range(n):  # n messages of ages uniform over span windows; those converted by then
        horizon = min(rng.uniform(0, span * 300.0), 300.0)
        delay = math.exp(math.log(median) + sigma * rng.gauss(0, 1))
        if delay <= horizon:
            s.add(delay, horizon, 1.0)
    for k in range(20):  # a prior's pseudo-conversions, as fit_delay adds them
        s.add(math.exp(math.log(20.0) + statistics.NormalDist().inv_cdf((k + 0.5) / 20)), 300, 1)
    found = s.newton()
    slow = s.profile()
    if found is None:
        assert math.exp(slow[0]) > 10 * 300.0
        return
    assert s.loglik(*found) >= s.loglik(*slow) - 1e-7
    assert found[0] == pytest.approx(slow[0], abs=1e-4)
    assert found[1] == pytest.approx(slow[1], rel=1e-4)


def test_the_delay_fitted_is_the_same_whichever_method_maximises() -> None:
    seen = _seen(60.0, 1.0, 2000, seed=4, span=1.0)
    prior = ConversionDelay(15.0, 1.0, 300.0)
    s = Likelihood()
    for delay, horizon in seen:
        s.add(delay, horizon, 1.0)
    mu, sigma = s.profile()
    fit = fit_delay(seen, prior, prior_weight=0.0001)
    assert fit.delay.median_s == pytest.approx(math.exp(mu), rel=1e-4)
    assert fit.delay.sigma == pytest.approx(sigma, rel=1e-4)
