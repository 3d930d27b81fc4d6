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


def fit_delay(
    seen: Iterable[tuple[float, float]], prior: ConversionDelay, prior_weight: float = 20.0
) -> DelayFit:
    """The delay that best explains ``seen``: (delay s, truncation s) of each conversion, its
    delay after the send and the age up to which that message could have shown one (its age
    when read, at most the window). ``prior`` is the configured delay."""
    s = _Stats()
    real = 0
    for delay_s, horizon_s in seen:
        if delay_s > 0 and horizon_s >= delay_s:
            s.add(delay_s, min(horizon_s, prior.window_s), 1.0)
            real += 1
    m = max(1, round(prior_weight))
    for k in range(m):  # the prior's pseudo-conversions, at its quantiles
        z = _inverse_phi((k + 0.5) / m)
        delay_s = math.exp(math.log(prior.median_s) + prior.sigma * z)
        if delay_s <= prior.window_s:
            s.add(delay_s, prior.window_s, prior_weight / m)
    if real == 0:
        return DelayFit(prior, 0)
    best = max(_SIGMAS, key=lambda sigma: s.best_mu(sigma)[1])
    lo, hi = best / _STEP, best * _STEP
    for _ in range(30):  # golden section on sigma, around the grid's best
        a = hi - _GOLDEN * (hi - lo)
        b = lo + _GOLDEN * (hi - lo)
        if s.best_mu(a)[1] >= s.best_mu(b)[1]:
            hi = b
        else:
            lo = a
    sigma = (lo + hi) / 2
    mu, _ = s.best_mu(sigma)
    return DelayFit(ConversionDelay(math.exp(mu), sigma, prior.window_s), real)


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
        # (grouped to 1 % of the horizon: an error far below the fit's own)
        cut = round(math.log(horizon_s), 2)
        self.cuts[cut] = self.cuts.get(cut, 0.0) + weight

    def loglik(self, mu: float, sigma: float) -> float:
        """Sum of log f(d) - log F(h) over the conversions (the constant left out)."""
        squares = self.s2 - 2 * mu * self.s1 + self.w * mu * mu
        density = -self.w * math.log(sigma) - squares / (2 * sigma * sigma)
        truncation = sum(w * _log_phi((cut - mu) / sigma) for cut, w in self.cuts.items())
        return density - truncation

    def best_mu(self, sigma: float) -> tuple[float, float]:
        """The log-median of highest likelihood for ``sigma``, and that likelihood."""
        lo, hi = self.lo - 3 * sigma, self.hi + 3 * sigma
        for _ in range(40):
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
