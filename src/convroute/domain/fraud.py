"""Which number prefixes a pumping attack is using (the fraud guard's rule, pure).

SMS pumping sends codes to number ranges the fraudster earns from (premium or
revenue-sharing ranges): requests concentrate on a few prefixes, and nobody ever types the
code. Genuine users are spread over a destination's whole numbering plan and convert at the
destination's rate. So while the pumping watch has an episode in progress on a destination,
a prefix is *affected* when its settled verifications of the last hour converted so much less
than the destination's that chance cannot explain it: the binomial probability of so few
conversions at the destination's rate is below ``ALPHA``, on at least ``MIN_SETTLED`` of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_SETTLED = 8  # settled verifications a prefix needs before it can be judged
ALPHA = 1e-3  # how unlikely its conversions must be at the destination's rate


@dataclass(frozen=True, slots=True)
class Counts:
    """Verifications of the last hour whose outcome is known, and how many converted."""

    settled: int
    converted: int

    @property
    def rate(self) -> float:
        return self.converted / self.settled if self.settled else 0.0


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0 if k < n else 1.0
    total = 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    for i in range(k + 1):
        log_term = math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        total += math.exp(log_term + i * log_p + (n - i) * log_q)
    return min(1.0, total)


def affected(
    prefix: Counts, destination: Counts, min_settled: int = MIN_SETTLED, alpha: float = ALPHA
) -> bool:
    """Whether ``prefix`` converts so far below ``destination`` (the rest of its traffic
    included) that chance cannot explain it."""
    if prefix.settled < min_settled or destination.settled <= 0:
        return False
    # the destination's rate without the prefix's own (which would pull it down), smoothed
    rest_settled = destination.settled - prefix.settled
    rest_converted = destination.converted - prefix.converted
    rate = (rest_converted + 1.0) / (rest_settled + 2.0)
    return binomial_cdf(prefix.converted, prefix.settled, rate) < alpha
