"""The conversion delay learned from what was seen: a log-normal fitted to the delays of the
conversions a log shows, each right-truncated where it was seen (a message of age ``a`` can
only have shown a conversion up to ``min(a, window)``: young messages show only their fast
converters, and a plain fit to the delays seen would take the delay for shorter than it is).

The configured delay is only a prior: it enters as ``prior_weight`` pseudo-conversions at its
own quantiles (not truncated), so a handful of conversions moves it little and thousands
decide. Pure and deterministic. The delays enter through sufficient statistics (their count,
sum and sum of squares of logs) and the truncation points grouped by value, so a pass over
the data costs little whatever the count; the maximisation is Newton's method on the normal's
natural parameters, where this log-likelihood is concave: about ten passes (7 ms for 2,750
conversions). A profile over sigma (a geometric grid, then golden section, the log-median by
golden section for each sigma) took about 3,000 passes (0.4 s, a stall of the server's event
loop at every fit); it stays for data where Newton's method does not settle inside the
sigmas searched.
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
) -> DelayFit:
    """The delay that best explains ``seen``: (delay s, truncation s) of each conversion, its
    delay after the send and the age up to which that message could have shown one (its age
    when read, at most the window), and the ``settled`` conversions (truncated at the
    window). ``prior`` is the configured delay."""
    s = Likelihood()
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
    found = s.newton()  # (where it does not settle inside the sigmas searched: the profile)
    mu, sigma = found if found is not None else s.profile()
    return DelayFit(ConversionDelay(math.exp(mu), sigma, prior.window_s), real)


_NEWTON_STEPS = 60
_SETTLED = 1e-10  # Newton's decrement (twice the rise left, in log-likelihood) at the optimum


class Likelihood:
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

    def newton(self) -> tuple[float, float] | None:
        """The (log-median, sigma) of highest likelihood by Newton's method on the natural
        parameters (t1, t2) = (mu / sigma^2, -1 / (2 sigma^2)), in which the log-likelihood of
        right-truncated normals is concave (each truncation's log-normaliser is convex): a
        handful of passes over the truncation points where the profile takes thousands. From
        the moments of the log delays, with the step halved where the likelihood would not
        rise; None if it does not settle, or settles outside what the profile searches (the
        sigmas of its grid, log-medians within 3 sigmas of the log delays seen)."""
        mean = self.s1 / self.w
        sigma = max(_SIGMAS[0], math.sqrt(max(0.0, self.s2 / self.w - mean * mean)))
        t1, t2 = mean / sigma**2, -0.5 / sigma**2
        value, g1, g2, h11, h12, h22 = self._natural(t1, t2)
        for _ in range(_NEWTON_STEPS):
            det = h11 * h22 - h12 * h12
            if not (h11 < 0 and det > 0):
                return None
            d1 = -(h22 * g1 - h12 * g2) / det  # the step, -H^-1 g
            d2 = -(h11 * g2 - h12 * g1) / det
            decrement = g1 * d1 + g2 * d2  # g' (-H)^-1 g: twice the rise a full step promises
            step = 1.0
            while True:
                n1, n2 = t1 + step * d1, t2 + step * d2
                if n2 < 0:
                    moved = self._natural(n1, n2)
                    if decrement < _SETTLED or moved[0] >= value + 0.25 * step * decrement:
                        break
                step /= 2
                if step < 1e-12:
                    return None
            t1, t2 = n1, n2
            value, g1, g2, h11, h12, h22 = moved
            if decrement < _SETTLED:
                sigma = math.sqrt(-0.5 / t2)
                mu = t1 * sigma * sigma
                if not _SIGMAS[0] <= sigma <= _SIGMAS[-1]:
                    return None
                if not self.lo - 3 * sigma <= mu <= self.hi + 3 * sigma:
                    return None  # (a flat likelihood: the data cannot place the median)
                return mu, sigma
        return None

    def _natural(self, t1: float, t2: float) -> tuple[float, float, float, float, float, float]:
        """The log-likelihood at natural parameters (t1, t2), its gradient (g1, g2) and its
        Hessian (h11, h12, h22): the sufficient statistics less, for each truncation point, its
        weight times the truncated normal's moments of (x, x^2) and their covariances."""
        var = -0.5 / t2
        sigma = math.sqrt(var)
        mu = t1 * var
        e1 = e2 = c11 = c12 = c22 = 0.0
        truncation = 0.0
        for cut, w in self.cuts.items():
            a = (cut - mu) / sigma
            truncation += w * _log_phi(a)
            lam = _mills(a)
            m1, m2 = -lam, 1.0 - a * lam
            m3, m4 = -(2.0 + a * a) * lam, 3.0 * m2 - a * a * a * lam
            v, c, q = max(0.0, m2 - m1 * m1), m3 - m1 * m2, max(0.0, m4 - m2 * m2)
            e1 += w * (mu + sigma * m1)
            e2 += w * (mu * mu + 2 * mu * sigma * m1 + var * m2)
            c11 += w * var * v
            c12 += w * (2 * mu * var * v + var * sigma * c)
            c22 += w * (4 * mu * mu * var * v + 4 * mu * var * sigma * c + var * var * q)
        squares = self.s2 - 2 * mu * self.s1 + self.w * mu * mu
        value = -self.w * math.log(sigma) - squares / (2 * var) - truncation
        return value, self.s1 - e1, self.s2 - e2, -c11, -c12, -c22

    def profile(self) -> tuple[float, float]:
        """The (log-median, sigma) of highest likelihood by a profile over sigma (a geometric
        grid, then golden section), each sigma's log-median by golden section: slower than
        ``newton``, but bounded to the sigmas searched."""
        best = max(_SIGMAS, key=lambda sigma: self.best_mu(sigma)[1])
        lo, hi = best / _STEP, best * _STEP
        for _ in range(30):  # golden section on sigma, around the grid's best
            a = hi - _GOLDEN * (hi - lo)
            b = lo + _GOLDEN * (hi - lo)
            if self.best_mu(a)[1] >= self.best_mu(b)[1]:
                hi = b
            else:
                lo = a
        sigma = (lo + hi) / 2
        return self.best_mu(sigma)[0], sigma

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


def _mills(a: float) -> float:
    """phi(a) / Phi(a): minus the mean of a standard normal truncated above at ``a``."""
    if a > -30.0:
        return math.exp(-0.5 * a * a) / math.sqrt(2 * math.pi) / (0.5 * math.erfc(-a / _SQRT2))
    inv = 1.0 / (a * a)  # far in the lower tail, its asymptotic series
    return -a / (1.0 - inv + 3.0 * inv * inv)


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
