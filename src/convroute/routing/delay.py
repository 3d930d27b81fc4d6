"""The conversion-delay distribution: when the users who convert do so, after a message."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ConversionDelay:
    """Log-normal conversion delay (median, sigma) and the window after which a message that
    has not converted counts as not converted."""

    median_s: float = 20.0
    sigma: float = 1.0
    window_s: float = 300.0
    # what every ``cdf`` needs, computed once: log(median) and Phi at the window's close
    _log_median: float = field(init=False, repr=False, compare=False, default=0.0)
    _phi_window: float = field(init=False, repr=False, compare=False, default=1.0)

    def __post_init__(self) -> None:
        log_median = math.log(self.median_s)
        object.__setattr__(self, "_log_median", log_median)
        at_window = (
            (math.log(self.window_s) - log_median) / self.sigma if self.window_s > 0 else 0.0
        )
        object.__setattr__(self, "_phi_window", _phi(at_window))

    def __reduce__(self) -> tuple[type[ConversionDelay], tuple[float, float, float]]:
        # (a frozen class: made again from its fields, also in the compiled build)
        return (ConversionDelay, (self.median_s, self.sigma, self.window_s))

    def cdf(self, age_s: float) -> float:
        """P(a conversion has happened by ``age_s`` | it happens within the window)."""
        if age_s <= 0:
            return 0.0
        if age_s >= self.window_s:
            return 1.0
        z = (math.log(age_s) - self._log_median) / self.sigma
        return _phi(z) / self._phi_window

    def exposure_at(self, age_ms: float) -> float:
        """A decision's exposure at ``age_ms``: F(age), 1 from the window's close on."""
        if age_ms >= self.window_s * 1000.0:
            return 1.0
        return self.cdf(age_ms / 1000.0)

    def age_ms(self, level: float) -> float:
        """The age (ms) by which a share ``level`` of the conversions have happened."""
        lo, hi = 0.0, self.window_s * 1000.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if self.cdf(mid / 1000.0) < level:
                lo = mid
            else:
                hi = mid
        return hi


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
