"""The conversion delay learned from what was seen: a log-normal fitted to the delays of the
conversions a log shows, each right-truncated where it was seen (a message of age ``a`` can
only have shown a conversion up to ``min(a, window)``: young messages show only their fast
converters, and a plain fit to the delays seen would take the delay for shorter than it is).

The configured delay is only a prior: it enters as ``prior_weight`` pseudo-conversions at its
own quantiles (not truncated), so a handful of conversions moves it little and thousands
decide. Pure and deterministic; the maximisation is a profile over sigma (a geometric grid,
then a golden-section refinement), the log-median solved by golden section for each sigma.
The delays enter through sufficient statistics (their count, sum and sum of squares of logs)
and the truncation points grouped by value, so a fit costs little whatever the count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from convroute.routing.delay import ConversionDelay

_SQRT2 = math.sqrt(2.0)
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
_STEP = 1.17
_SIGMAS = tuple(0.05 * _STEP**k for k in range(30))  # 0.05 .. about 4.8


@dataclass(frozen=True, slots=True)
class DelayFit:
    """A fitted delay and how many real conversions it rests on."""

    delay: ConversionDelay
    conversions: int


@dataclass(slots=True)
class Settled:
    """Conversions whose message's window is over, kept as sums: each could have shown a
    delay up to the window, so all share one truncation point and their log delays enter
    only through their (weighted) count, sum and sum of squares."""

    weight: float = 0.0
    s1: float = 0.0
    s2: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf

    def add(self, delay_s: float, weight: float = 1.0) -> None:
        x = math.log(delay_s)
        self.weight += weight
        self.s1 += weight * x
        self.s2 += weight * x * x
        self.lo, self.hi = min(self.lo, x), max(self.hi, x)

    def scale(self, factor: float) -> None:
        """Every weight times ``factor`` (forgetting)."""
        self.weight *= factor
        self.s1 *= factor
        self.s2 *= factor


def fit_delay(
    seen: Iterable[tuple[float, float]],
    prior: ConversionDelay,
    prior_weight: float = 20.0,
    settled: Settled | None = None,
    near: ConversionDelay | None = None,
) -> DelayFit:
    """The delay that best explains ``seen``: (delay s, truncation s) of each conversion, its
    delay after the send and the age up to which that message could have shown one (its age
    when read, at most the window), and the ``settled`` conversions (truncated at the
    window). ``prior`` is the configured delay; ``near``, a fit before this one, narrows the
    search to around it (the next fit of a learner moves little)."""
    s = _Stats()
    real = 0
    for delay_s, horizon_s in seen:
        if delay_s > 0 and horizon_s >= delay_s:
            s.add(delay_s, min(horizon_s, prior.window_s), 1.0)
            real += 1
    if settled is not None and settled.weight > 0:
        s.merge(settled, prior.window_s)
        real += round(settled.weight)
    m = max(1, round(prior_weight))
    for k in range(m):  # the prior's pseudo-conversions, at its quantiles
        z = _inverse_phi((k + 0.5) / m)
        delay_s = math.exp(math.log(prior.median_s) + prior.sigma * z)
        if delay_s <= prior.window_s:
            s.add(delay_s, prior.window_s, prior_weight / m)
    if real == 0:
        return DelayFit(prior, 0)
    if near is None:
        best = max(_SIGMAS, key=lambda sigma: s.best_mu(sigma)[1])
        lo, hi, rounds = best / _STEP, best * _STEP, 30
    else:
        lo, hi, rounds = near.sigma / _NEAR, min(near.sigma * _NEAR, _SIGMAS[-1]), 16
    for _ in range(rounds):  # golden section on sigma, around the grid's best
        a = hi - _GOLDEN * (hi - lo)
        b = lo + _GOLDEN * (hi - lo)
        if s.best_mu(a)[1] >= s.best_mu(b)[1]:
            hi = b
        else:
            lo = a
    sigma = (lo + hi) / 2
    mu, _ = s.best_mu(sigma)
    return DelayFit(ConversionDelay(math.exp(mu), sigma, prior.window_s), real)


_NEAR = 1.6  # a warm-started fit looks for sigma within this factor of the last one


class _Stats:
    """The log-likelihood's ingredients: weighted count, sum and sum of squares of the log
    delays, and the weight at each truncation point (grouped)."""

    def __init__(self) -> None:
        self.w = 0.0
        self.s1 = 0.0
        self.s2 = 0.0
        self.lo = math.inf
        self.hi = -math.inf
        self.cuts: dict[float, float] = {}

    def add(self, delay_s: float, horizon_s: float, weight: float) -> None:
        x = math.log(delay_s)
        self.w += weight
        self.s1 += weight * x
        self.s2 += weight * x * x
        self.lo, self.hi = min(self.lo, x), max(self.hi, x)
        # (grouped to 2 % of the horizon: an error far below the fit's own)
        cut = round(math.log(horizon_s) * 50.0) / 50.0
        self.cuts[cut] = self.cuts.get(cut, 0.0) + weight

    def merge(self, settled: Settled, window_s: float) -> None:
        self.w += settled.weight
        self.s1 += settled.s1
        self.s2 += settled.s2
        self.lo, self.hi = min(self.lo, settled.lo), max(self.hi, settled.hi)
        cut = round(math.log(window_s) * 50.0) / 50.0
        self.cuts[cut] = self.cuts.get(cut, 0.0) + settled.weight

    def loglik(self, mu: float, sigma: float) -> float:
        """Sum of log f(d) - log F(h) over the conversions (the constant left out)."""
        squares = self.s2 - 2 * mu * self.s1 + self.w * mu * mu
        density = -self.w * math.log(sigma) - squares / (2 * sigma * sigma)
        truncation = sum(w * _log_phi((cut - mu) / sigma) for cut, w in self.cuts.items())
        return density - truncation

    def best_mu(self, sigma: float) -> tuple[float, float]:
        """The log-median of highest likelihood for ``sigma``, and that likelihood."""
        lo, hi = self.lo - 3 * sigma, self.hi + 3 * sigma
        for _ in range(32):
            a = hi - _GOLDEN * (hi - lo)
            b = lo + _GOLDEN * (hi - lo)
            if self.loglik(a, sigma) >= self.loglik(b, sigma):
                hi = b
            else:
                lo = a
        mu = (lo + hi) / 2
        return mu, self.loglik(mu, sigma)


def _log_phi(z: float) -> float:
    """log Phi(z), also far in the lower tail."""
    p = 0.5 * math.erfc(-z / _SQRT2)
    return math.log(p) if p > 0 else -0.5 * z * z - math.log(-z * math.sqrt(2 * math.pi))


def _inverse_phi(p: float) -> float:
    """The standard normal quantile (bisection: a handful of calls per fit)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / _SQRT2) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
