"""Delay-aware, forgetting estimates of each route's conversion rate per context.

A message sent ``a`` seconds ago has converted by now with probability ``mu * F(a)``, where
``F`` is the conversion-delay distribution (reaching 1 at the window's close). So every
decision contributes an *exposure* of ``F(age)`` — converted or not — until its window is
over (reported closed, or older than the window), then 1; ``mu_hat = conversions / exposure``
is unbiased for ``mu`` without waiting for the window, and a young message is neither a
success nor a failure.

Forgetting is by time: a decision sent at ``s`` weighs ``exp((s - now) / tau)``, so the
estimates follow change. Sums are kept scaled by ``exp((s - anchor) / tau)``; they are plain
sums, so the state is the same whatever order the outcomes arrive in.

DLRs are kept beside conversions, per route and context: the share of decisions whose
receipt said delivered, and how conversions split between delivered and not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from convroute.routing.policy import Context, Outcome, OutcomeKind

Key = tuple[Context, str]  # (context, route id)


@dataclass(frozen=True, slots=True)
class ConversionDelay:
    """Log-normal conversion delay (median, sigma) and the window after which a message that
    has not converted counts as not converted."""

    median_s: float = 20.0
    sigma: float = 1.0
    window_s: float = 300.0

    def cdf(self, age_s: float) -> float:
        """P(a conversion has happened by ``age_s`` | it happens within the window)."""
        if age_s <= 0:
            return 0.0
        if age_s >= self.window_s:
            return 1.0
        z = (math.log(age_s) - math.log(self.median_s)) / self.sigma
        at_window = (math.log(self.window_s) - math.log(self.median_s)) / self.sigma
        return _phi(z) / _phi(at_window)


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


@dataclass(slots=True)
class Arm:
    """The sums for one route in one context (all weights scaled to the anchor)."""

    sent: float = 0.0  # every decision
    settled: float = 0.0  # decisions whose window is over: exposure 1
    converted: float = 0.0
    dlr_seen: float = 0.0  # decisions with a receipt
    dlr_delivered: float = 0.0
    # decisions whose window is not over yet, converted or not: exposure F(age)
    pending: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> (sent, w)


@dataclass(slots=True)
class _Record:
    key: Key
    sent_ms: int
    weight: float
    resolved: OutcomeKind | None = None
    dlr: OutcomeKind | None = None
    open: bool = True  # in its arm's ``pending`` (exposure F(age)), not yet settled


_TABLE_STEP_MS = 100

_RANK: dict[OutcomeKind | None, int] = {
    None: 0,
    OutcomeKind.NOT_CONVERTED: 1,
    OutcomeKind.CONVERTED: 2,
    OutcomeKind.CANCELED: 3,
}


@dataclass(frozen=True, slots=True)
class Estimate:
    """What is known of a route in a context, now."""

    mean: float  # posterior mean conversion rate (delay-corrected)
    exposure: float  # effective number of observations, after forgetting
    dlr_rate: float | None  # share of receipts saying delivered, or None without receipts
    sent: float  # effective number of decisions, after forgetting


class Ledger:
    """Every decision's state and the per-(context, route) sums built from them."""

    def __init__(
        self,
        delay: ConversionDelay | None = None,
        tau_s: float | None = 3600.0,
        prior: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        self.delay = delay or ConversionDelay()
        # F at 100 ms steps (the middle of each step): a lookup instead of log + erf per item
        steps = int(self.delay.window_s * 1000 // _TABLE_STEP_MS) + 1
        self._cdf_table = [
            self.delay.cdf((i + 0.5) * _TABLE_STEP_MS / 1000.0) for i in range(steps)
        ]
        self.tau_ms = None if tau_s is None else tau_s * 1000.0
        self.prior = prior
        self.anchor_ms: int | None = None
        self.arms: dict[Key, Arm] = {}
        self.records: dict[str, _Record] = {}

    # -- weights ---------------------------------------------------------------------------

    def _weight(self, at_ms: int) -> float:
        if self.tau_ms is None:
            return 1.0
        if self.anchor_ms is None:
            self.anchor_ms = at_ms
        exponent = (at_ms - self.anchor_ms) / self.tau_ms
        if exponent > 50:  # keep the scaled sums finite: move the anchor forward
            self._rebase(at_ms)
            exponent = 0.0
        return math.exp(exponent)

    def _rebase(self, at_ms: int) -> None:
        assert self.anchor_ms is not None
        assert self.tau_ms is not None
        factor = math.exp(-(at_ms - self.anchor_ms) / self.tau_ms)
        self.anchor_ms = at_ms
        for arm in self.arms.values():
            arm.sent *= factor
            arm.settled *= factor
            arm.converted *= factor
            arm.dlr_seen *= factor
            arm.dlr_delivered *= factor
            arm.pending = {k: (s, w * factor) for k, (s, w) in arm.pending.items()}
        for record in self.records.values():
            record.weight *= factor

    def _scale(self, now_ms: int) -> float:
        """Multiply a scaled sum by this to get its forgotten value at ``now_ms``."""
        if self.tau_ms is None or self.anchor_ms is None:
            return 1.0
        return math.exp(-(now_ms - self.anchor_ms) / self.tau_ms)

    # -- updates ---------------------------------------------------------------------------

    def record(self, decision_id: str, context: Context, route_id: str, sent_ms: int) -> None:
        """A decision was taken."""
        if decision_id in self.records:
            return
        weight = self._weight(sent_ms)
        key = (context, route_id)
        self.records[decision_id] = _Record(key, sent_ms, weight)
        arm = self.arms.setdefault(key, Arm())
        arm.sent += weight
        arm.pending[decision_id] = (sent_ms, weight)

    def observe(self, outcome: Outcome) -> None:
        """Fold an outcome in. Final outcomes are ranked (canceled > converted > not converted)
        and the highest seen counts, so the state does not depend on arrival order; a
        "delivered" receipt likewise beats a "failed" one."""
        record = self.records.get(outcome.decision_id)
        if record is None:
            return
        arm = self.arms[record.key]
        kind = outcome.kind
        if kind in (OutcomeKind.DLR_DELIVERED, OutcomeKind.DLR_FAILED):
            if record.resolved is OutcomeKind.CANCELED:
                if record.dlr is None or kind is OutcomeKind.DLR_DELIVERED:
                    record.dlr = kind  # remembered, not counted: the decision left
            elif record.dlr is None:
                record.dlr = kind
                arm.dlr_seen += record.weight
                if kind is OutcomeKind.DLR_DELIVERED:
                    arm.dlr_delivered += record.weight
            elif record.dlr is OutcomeKind.DLR_FAILED and kind is OutcomeKind.DLR_DELIVERED:
                record.dlr = kind  # a later "delivered" beats "failed" whatever the order
                arm.dlr_delivered += record.weight
            return
        self._resolve(outcome.decision_id, record, arm, kind)

    def _resolve(self, decision_id: str, record: _Record, arm: Arm, kind: OutcomeKind) -> None:
        previous = record.resolved
        if _RANK[kind] <= _RANK[previous]:
            return
        w = record.weight
        record.resolved = kind
        if kind is OutcomeKind.NOT_CONVERTED:  # the window closed: exposure 1 from now on
            self._settle(decision_id, record, arm)
        elif kind is OutcomeKind.CONVERTED:  # exposure stays F(age) until the window is over
            arm.converted += w
        else:  # canceled: the decision leaves the statistics entirely
            if record.open:
                arm.pending.pop(decision_id, None)
                record.open = False
            else:
                arm.settled -= w
            if previous is OutcomeKind.CONVERTED:
                arm.converted -= w
            arm.sent -= w
            if record.dlr is not None:
                arm.dlr_seen -= w
                if record.dlr is OutcomeKind.DLR_DELIVERED:
                    arm.dlr_delivered -= w

    @staticmethod
    def _settle(decision_id: str, record: _Record, arm: Arm) -> None:
        if record.open:
            arm.pending.pop(decision_id, None)
            arm.settled += record.weight
            record.open = False

    # -- reading ---------------------------------------------------------------------------

    def estimate(self, context: Context, route_id: str, now_ms: int) -> Estimate:
        """The route's estimate in ``context`` at ``now_ms``."""
        arm = self.arms.get((context, route_id))
        a, b = self.prior
        if arm is None:
            return Estimate(a / (a + b), 0.0, None, 0.0)
        table, step, window_ms = self._cdf_table, _TABLE_STEP_MS, self.delay.window_s * 1000.0
        pending = 0.0
        over = []
        for decision_id, (sent, w) in arm.pending.items():
            age = now_ms - sent
            if age >= window_ms:
                over.append(decision_id)
            elif age > 0:
                pending += w * table[int(age // step)]
        for decision_id in over:  # their exposure is 1 for good: settle them
            self._settle(decision_id, self.records[decision_id], arm)
        scale = self._scale(now_ms)
        exposure = (arm.settled + pending) * scale
        converted = arm.converted * scale
        dlr_rate = arm.dlr_delivered / arm.dlr_seen if arm.dlr_seen > 1e-9 else None
        mean = (converted + a) / (exposure + a + b)
        return Estimate(min(1.0, mean), exposure, dlr_rate, arm.sent * scale)
