"""The conversion delay a ledger uses, learned from its own conversions (issue 21): the
configured delay is only the prior, and nobody knows the real one (it differs by country,
network, traffic type; a route's latency is part of it, since a delay runs from the send).

Every conversion of a recorded decision within its window is kept as (send time, delay).
While its message is young, it could only have shown a delay up to its age, so it enters a
fit truncated there (``delay_fit``); once the window is over it joins the settled sums,
truncated at the window, forgotten slowly (``tau_s``) so that a delay that moves is followed.

The fits come on a grid (the service's router and the simulator's policies alike): a fit
runs once the ledger's time passed each multiple of ``every_s`` by ``lag_s``, on exactly the
conversions that happened before that multiple (the cut), each truncated at its message's
age at the cut, and the settled sums weigh each conversion by its send time. So a fit is a
function of the cut and of the set of conversions told, not of the order or the moments they
were told in: a router that read the log batch by batch and one that read it at once (a
start-up, a checkpoint and its tail) fit the same delay at every cut, given each conversion
reached the log within ``lag_s`` of happening (a later one joins the next cut's fit). The
delay in use is the cut's fit itself, with no hysteresis and no warm start, for the same
reason. Until ``early_until`` conversions have happened, the cuts come every
``early_every_s`` instead (a fresh ledger told a wrong prior learns within minutes, not at
its first ``every_s``): a cut is an early one where fewer than ``early_until`` conversions
happened before it, which is again a function of the set of conversions told (the learner
keeps the times of the ``early_until`` earliest).
"""

from __future__ import annotations

import bisect
import dataclasses
import math

from convroute.routing.delay import ConversionDelay
from convroute.routing.delay_fit import DelayFit, Settled, fit_delay

FIT_EVERY_S = 600.0  # the grid's spacing: the service's router and the simulator's policies
MIN_DELAY_MS = 50  # a conversion reported at once: a delay this short, not zero
REBASE_TAUS = 20.0  # the settled sums' reference moves by this many time constants


class DelayLearner:
    """Conversions' delays, and the delay they say."""

    def __init__(
        self,
        prior: ConversionDelay,
        prior_weight: float = 20.0,
        tau_s: float | None = 21_600.0,
        every_s: float = FIT_EVERY_S,
        lag_s: float = 60.0,
        early_every_s: float = 60.0,
        early_until: int = 1000,
    ) -> None:
        self.prior = prior
        self.prior_weight = prior_weight
        self.delay = prior  # the delay in use: the prior until a fit moves it
        self.fitted: DelayFit | None = None
        self.young: list[tuple[int, int]] = []  # (sent ms, delay ms), window not yet over
        self.settled = Settled()
        self.tau_ms = None if tau_s is None else tau_s * 1000.0
        self.every_ms = every_s * 1000.0
        self.fits = 0
        self.lag_ms = lag_s * 1000.0
        self.cut_ms: int | None = None  # the last fit's cut
        # early cuts: their spacing, and the times of the earliest conversions told (sorted,
        # at most early_until of them; None once a regular cut is past the last)
        self.early_ms, self.early_until = early_every_s * 1000.0, early_until
        self.earliest: list[int] | None = [] if early_until > 0 else None
        # the settled sums' weights are exp((sent - ref) / tau), ref a multiple of
        # REBASE_TAUS time constants (a function of the cut, not of what came when)
        self.ref_ms: float | None = None

    def set_pace(self, pace: float) -> None:
        """Time constants divided by ``pace`` (traffic played ``pace`` x real time)."""
        if self.tau_ms is not None:
            self.tau_ms /= pace
        self.every_ms /= pace
        self.early_ms /= pace
        self.lag_ms /= pace

    def add(self, sent_ms: int, at_ms: int) -> None:
        """A decision sent at ``sent_ms`` converted at ``at_ms`` (a conversion after the
        window is not one the delay distribution covers, and is left out)."""
        delay_ms = at_ms - sent_ms
        if delay_ms > self.prior.window_s * 1000.0:
            return
        if self.earliest is not None:
            bisect.insort(self.earliest, at_ms)
            del self.earliest[self.early_until :]
        delay_ms = max(MIN_DELAY_MS, delay_ms)
        if self.cut_ms is not None and self.cut_ms - sent_ms >= self.prior.window_s * 1000:
            self._settle(sent_ms, delay_ms)  # (told after its message's window was over)
        else:
            self.young.append((sent_ms, delay_ms))

    def due(self, now_ms: int) -> bool:
        """Whether a fit should run at ``now_ms``: a cut passed since the last fit, with a
        conversion before it."""
        cut = self._cut(now_ms)
        if cut <= (self.cut_ms if self.cut_ms is not None else -(2**62)):
            return False
        if self.earliest is not None:  # (a conversion happened before the cut)
            return bool(self.earliest) and self.earliest[0] <= cut
        return bool(self.young) or self.settled.weight > 0

    def _cut(self, now_ms: int) -> int:
        """The last multiple of ``every_s`` that ``now_ms`` passed by ``lag_s``, or a later
        multiple of ``early_every_s`` it passed, the latest before which fewer than
        ``early_until`` conversions happened."""
        edge = now_ms - self.lag_ms
        cut = int(edge // self.every_ms * self.every_ms)
        earliest = self.earliest
        if earliest is None:
            return cut
        early = int(edge // self.early_ms * self.early_ms)
        if len(earliest) >= self.early_until:
            last = earliest[-1]  # the early_until-th conversion: early cuts end before it
            if cut >= last:
                self.earliest = None  # (all told by now: no early cut can come again)
                return cut
            early = min(early, int((math.ceil(last / self.early_ms) - 1) * self.early_ms))
        return max(cut, early)

    def _settle(self, sent_ms: int, delay_ms: int) -> None:
        weight = 1.0
        if self.tau_ms is not None and self.ref_ms is not None:
            weight = math.exp((sent_ms - self.ref_ms) / self.tau_ms)
        self.settled.add(delay_ms / 1000.0, weight)

    def _rebase(self, cut_ms: int) -> None:
        if self.tau_ms is None:
            return
        span = REBASE_TAUS * self.tau_ms
        ref = cut_ms // span * span
        if self.ref_ms is not None and ref != self.ref_ms:
            self.settled.scale(math.exp(-(ref - self.ref_ms) / self.tau_ms))
        self.ref_ms = ref

    def fit(self, now_ms: int) -> ConversionDelay | None:
        """Fit the delay on the conversions before the last cut ``now_ms`` passed; the new
        delay to use, or None where it is the one in use."""
        cut_ms = self._cut(now_ms)
        window_ms = self.prior.window_s * 1000.0
        self._rebase(cut_ms)
        young = []
        for sent_ms, delay_ms in self.young:
            if cut_ms - sent_ms >= window_ms:
                self._settle(sent_ms, delay_ms)
            else:
                young.append((sent_ms, delay_ms))
        self.young = young
        seen = [(d / 1000.0, (cut_ms - s) / 1000.0) for s, d in young if s + d <= cut_ms]
        settled = dataclasses.replace(self.settled)  # (scaled to the cut: a copy)
        if self.tau_ms is not None and self.ref_ms is not None:
            settled.scale(math.exp(-(cut_ms - self.ref_ms) / self.tau_ms))
        fitted = fit_delay(seen, self.prior, self.prior_weight, settled)
        self.fitted, self.fits, self.cut_ms = fitted, self.fits + 1, cut_ms
        if fitted.delay == self.delay:
            return None
        self.delay = fitted.delay
        return self.delay
