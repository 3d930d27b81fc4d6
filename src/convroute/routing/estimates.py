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

import heapq
import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

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
    # calibration: settled decisions and their conversions, by what the receipt said when
    # the decision settled (delivered / failed / none)
    cal_delivered: float = 0.0
    cal_delivered_conv: float = 0.0
    cal_failed: float = 0.0
    cal_failed_conv: float = 0.0
    # decisions whose window is not over yet, converted or not: exposure F(age)
    pending: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> (sent, w)
    # With F piecewise linear, a pending decision in segment j adds w * (a_j + b_j * age) to
    # the exposure, age = now - sent. Three sums make the total O(1) at any time:
    # sum(w * a_j) + now * sum(w * b_j) - sum(w * b_j * sent)  (times relative to an origin).
    lin_a: float = 0.0
    lin_b: float = 0.0
    lin_c: float = 0.0


@dataclass(slots=True)
class _Record:
    key: Key
    sent_ms: int
    resolved: OutcomeKind | None = None
    dlr: OutcomeKind | None = None
    open: bool = True  # in its arm's ``pending`` (exposure F(age)), not yet settled
    segment: int = 0  # which segment of F its age is in, while open


# F is approximated by straight lines between the ages at which it reaches these levels.
# Eight segments keep the error on F under 0.02 (tested) for a few crossings per decision.
_LEVELS = (0.0, 0.04, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0)


def _segments(delay: ConversionDelay) -> tuple[list[float], list[float], list[float]]:
    """Breakpoints (ms of age) and, per segment, ``F(age) ~ alpha + beta * age``."""
    window_ms = delay.window_s * 1000.0

    def age_at(level: float) -> float:
        lo, hi = 0.0, window_ms
        for _ in range(60):
            mid = (lo + hi) / 2
            if delay.cdf(mid / 1000.0) < level:
                lo = mid
            else:
                hi = mid
        return hi

    bounds = [0.0] + [age_at(q) for q in _LEVELS[1:-1]] + [window_ms]
    alphas, betas = [], []
    for start, end in itertools.pairwise(bounds):
        f0, f1 = delay.cdf(start / 1000.0), delay.cdf(end / 1000.0)
        beta = (f1 - f0) / (end - start) if end > start else 0.0
        alphas.append(f0 - beta * start)
        betas.append(beta)
    return bounds, alphas, betas


BORROW = 10.0  # pseudo-observations a sparse route takes from the wider level's estimate


def parents(context: Context) -> list[Context]:
    """The wider contexts a context borrows from: its country, then the route everywhere."""
    if context.network is not None:
        return [
            Context(context.country, None, context.traffic),
            Context("*", None, context.traffic),
        ]
    if context.country != "*":
        return [Context("*", None, context.traffic)]
    return []


_MIN_CALIBRATION = 30.0  # settled decisions with a "delivered" receipt before receipts count

_RANK: dict[OutcomeKind | None, int] = {
    None: 0,
    OutcomeKind.NOT_CONVERTED: 1,
    OutcomeKind.CONVERTED: 2,
    OutcomeKind.CANCELED: 3,
}


class Estimate(NamedTuple):
    """What is known of a route in a context, now (a named tuple: dozens are built per
    decision, and tuples are the cheapest immutable values to build)."""

    mean: float  # posterior mean conversion rate (delay-corrected)
    exposure: float  # effective number of observations, after forgetting
    dlr_rate: float | None  # share of receipts saying delivered, or None without receipts
    sent: float  # effective number of decisions, after forgetting
    receipts: float = 0.0  # effective number of receipts, after forgetting
    # P(convert | receipt said delivered), P(convert | receipt said failed): None until known
    calibration: tuple[float, float] | None = None


class Ledger:
    """Every decision's state and the per-(context, route) sums built from them."""

    def __init__(
        self,
        delay: ConversionDelay | None = None,
        tau_s: float | None = 3600.0,
        prior: tuple[float, float] = (1.0, 1.0),
        retain_s: float = 86_400.0,
    ) -> None:
        self.delay = delay or ConversionDelay()
        self.tau_ms = None if tau_s is None else tau_s * 1000.0
        self.prior = prior
        self.anchor_ms: int | None = None
        self.arms: dict[Key, Arm] = {}
        self.records: dict[str, _Record] = {}
        self._members: dict[Key, list[Arm]] = {}  # wider level -> the arms it sums
        self.retain_ms = retain_s * 1000.0
        self._order: deque[tuple[int, str]] = deque()  # (sent, decision) in recording order
        self._bounds, self._alpha, self._beta = _segments(self.delay)
        self._crossings: list[tuple[int, int, str, int]] = []  # (at, seq, decision, segment)
        self._seq = 0
        self._origin_ms: int | None = None
        self._advanced_ms = -(2**62)

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
            arm.cal_delivered *= factor
            arm.cal_delivered_conv *= factor
            arm.cal_failed *= factor
            arm.cal_failed_conv *= factor
            arm.pending = {k: (s, w * factor) for k, (s, w) in arm.pending.items()}
            arm.lin_a *= factor
            arm.lin_b *= factor
            arm.lin_c *= factor
        # records keep no weight: it is derived from their send time (``_w``), so moving the
        # anchor costs O(routes), not O(decisions)

    def _forget(self, now_ms: int) -> None:
        """Drop decisions sent more than ``retain_s`` ago whose window is over: their
        evidence stays in the sums, but an outcome arriving for them now is ignored (a
        conversion reported a day late says little about the route today)."""
        order, horizon = self._order, now_ms - self.retain_ms
        while order and order[0][0] < horizon:
            _, decision_id = order.popleft()
            record = self.records.get(decision_id)
            if record is not None and not record.open:
                del self.records[decision_id]

    def _w(self, record: _Record) -> float:
        """A record's weight, relative to the current anchor."""
        if self.tau_ms is None or self.anchor_ms is None:
            return 1.0
        return math.exp((record.sent_ms - self.anchor_ms) / self.tau_ms)

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
        self.records[decision_id] = _Record(key, sent_ms)
        self._forget(sent_ms)
        self._order.append((sent_ms, decision_id))
        arm = self.arms.get(key)
        if arm is None:
            arm = self.arms[key] = Arm()
            # the wider levels a sparse destination borrows from are sums over these arms
            for wider in parents(context):
                self._members.setdefault((wider, route_id), []).append(arm)
        arm.sent += weight
        arm.pending[decision_id] = (sent_ms, weight)
        self._enter(decision_id, arm, sent_ms, weight, 0)

    def observe(self, outcome: Outcome) -> None:
        """Fold an outcome in. Final outcomes are ranked (canceled > converted > not converted)
        and the highest seen counts, so the state does not depend on arrival order; a
        "delivered" receipt likewise beats a "failed" one."""
        record = self.records.get(outcome.decision_id)
        if record is None:
            return
        record_id = outcome.decision_id
        arm = self.arms[record.key]
        kind = outcome.kind
        if kind in (OutcomeKind.DLR_DELIVERED, OutcomeKind.DLR_FAILED):
            if record.resolved is OutcomeKind.CANCELED:
                if record.dlr is None or kind is OutcomeKind.DLR_DELIVERED:
                    record.dlr = kind  # remembered, not counted: the decision left
            elif record.dlr is None:
                record.dlr = kind
                arm.dlr_seen += self._w(record)
                if kind is OutcomeKind.DLR_DELIVERED:
                    arm.dlr_delivered += self._w(record)
            elif record.dlr is OutcomeKind.DLR_FAILED and kind is OutcomeKind.DLR_DELIVERED:
                record.dlr = kind  # a later "delivered" beats "failed" whatever the order
                arm.dlr_delivered += self._w(record)
            return
        self._resolve(record_id, record, arm, kind)

    def _resolve(self, decision_id: str, record: _Record, arm: Arm, kind: OutcomeKind) -> None:
        previous = record.resolved
        if _RANK[kind] <= _RANK[previous]:
            return
        w = self._w(record)
        record.resolved = kind
        if kind is OutcomeKind.NOT_CONVERTED:  # the window closed: exposure 1 from now on
            self._settle(decision_id, record, arm)
        elif kind is OutcomeKind.CONVERTED:  # exposure stays F(age) until the window is over
            arm.converted += w
            if not record.open:  # a late conversion after the window: recount its calibration
                record.resolved = previous
                self._calibrate(record, arm, -1.0)
                record.resolved = kind
                self._calibrate(record, arm, 1.0)
        else:  # canceled: the decision leaves the statistics entirely
            if record.open:
                self._leave(decision_id, record, arm)
            else:
                arm.settled -= w
                record.resolved = previous  # take back its calibration as it was counted
                self._calibrate(record, arm, -1.0)
                record.resolved = kind
            if previous is OutcomeKind.CONVERTED:
                arm.converted -= w
            arm.sent -= w
            if record.dlr is not None:
                arm.dlr_seen -= w
                if record.dlr is OutcomeKind.DLR_DELIVERED:
                    arm.dlr_delivered -= w

    def _settle(self, decision_id: str, record: _Record, arm: Arm) -> None:
        if record.open:
            self._leave(decision_id, record, arm)
            arm.settled += self._w(record)
            self._calibrate(record, arm, 1.0)

    def _calibrate(self, record: _Record, arm: Arm, sign: float) -> None:
        """Count a settled decision (sign 1) or take it back (-1) in the receipt calibration."""
        w = sign * self._w(record)
        converted = record.resolved is OutcomeKind.CONVERTED
        if record.dlr is OutcomeKind.DLR_DELIVERED:
            arm.cal_delivered += w
            arm.cal_delivered_conv += w if converted else 0.0
        elif record.dlr is OutcomeKind.DLR_FAILED:
            arm.cal_failed += w
            arm.cal_failed_conv += w if converted else 0.0

    # -- the pending decisions' exposure, by segment of F ----------------------------------------

    def _rel(self, sent_ms: int) -> float:
        if self._origin_ms is None:
            self._origin_ms = sent_ms
        return float(sent_ms - self._origin_ms)

    def _add(self, arm: Arm, sent_ms: int, w: float, segment: int) -> None:
        """Add (w > 0) or remove (w < 0) a decision's line in ``segment``."""
        beta_w = self._beta[segment] * w
        arm.lin_a += self._alpha[segment] * w
        arm.lin_b += beta_w
        arm.lin_c += beta_w * self._rel(sent_ms)

    def _enter(self, decision_id: str, arm: Arm, sent_ms: int, w: float, segment: int) -> None:
        self._add(arm, sent_ms, w, segment)
        self._seq += 1
        at = sent_ms + int(self._bounds[segment + 1])
        heapq.heappush(self._crossings, (at, self._seq, decision_id, segment))

    def _leave(self, decision_id: str, record: _Record, arm: Arm) -> None:
        self._add(arm, record.sent_ms, -self._w(record), record.segment)
        arm.pending.pop(decision_id, None)
        record.open = False

    def _advance(self, now_ms: int) -> None:
        """Move every open decision into the segment its age has reached by ``now_ms``;
        those past the window are settled (exposure 1)."""
        self._advanced_ms = max(self._advanced_ms, now_ms)
        crossings, last = self._crossings, len(self._alpha) - 1
        while crossings and crossings[0][0] <= now_ms:
            _, _, decision_id, segment = heapq.heappop(crossings)
            record = self.records.get(decision_id)
            if record is None or not record.open or record.segment != segment:
                continue  # settled or canceled since: a stale crossing
            arm = self.arms[record.key]
            if segment == last:
                self._settle(decision_id, record, arm)
                continue
            # from the line of ``segment`` to the next one's: only the differences move
            w, nxt = self._w(record), segment + 1
            d_beta = (self._beta[nxt] - self._beta[segment]) * w
            arm.lin_a += (self._alpha[nxt] - self._alpha[segment]) * w
            arm.lin_b += d_beta
            arm.lin_c += d_beta * self._rel(record.sent_ms)
            record.segment = nxt
            self._seq += 1
            at = record.sent_ms + int(self._bounds[nxt + 1])
            heapq.heappush(crossings, (at, self._seq, decision_id, nxt))

    def _pending_exposure(self, arm: Arm, now_ms: int) -> float:
        if now_ms >= self._advanced_ms:
            if now_ms > self._advanced_ms:
                self._advance(now_ms)
            return max(0.0, arm.lin_a + self._rel(now_ms) * arm.lin_b - arm.lin_c)
        return self._exact_pending(arm, now_ms)

    def _exact_pending(self, arm: Arm, now_ms: int) -> float:
        # a read in the past (never in a simulation): the exact sum, changing nothing
        window_ms = self.delay.window_s * 1000.0
        return sum(
            w * (1.0 if now_ms - s >= window_ms else self.delay.cdf((now_ms - s) / 1000.0))
            for s, w in arm.pending.values()
        )

    # -- reading ---------------------------------------------------------------------------

    def estimate(self, context: Context, route_id: str, now_ms: int) -> Estimate:
        """The route's estimate in ``context`` at ``now_ms``."""
        return self.estimates(context, [route_id], now_ms)[0]

    def estimates(self, context: Context, route_ids: list[str], now_ms: int) -> list[Estimate]:
        """The routes' estimates in ``context`` at ``now_ms`` (the time-dependent work once).

        A route with little evidence here takes ``BORROW`` pseudo-observations at the wider
        level's estimate (network -> country -> everywhere) instead of the flat prior."""
        own = self.own(context, route_ids, now_ms)
        sparse = [i for i, e in enumerate(own) if e.exposure < BORROW]
        if not sparse:
            return own
        a, b = self.prior
        for i in sparse:
            parent = self._wider(context, route_ids[i], now_ms)
            if parent is None:
                continue
            e = own[i]
            # undo the flat prior, then add BORROW observations at the wider level's mean
            converted = e.mean * (e.exposure + a + b) - a
            mean = (converted + BORROW * parent) / (e.exposure + BORROW)
            own[i] = e._replace(mean=min(1.0, max(0.0, mean)))
        return own

    def _wider(self, context: Context, route_id: str, now_ms: int) -> float | None:
        """The route's mean at the nearest wider level with evidence (summing its arms)."""
        a, b = self.prior
        scale = self._scale(now_ms)
        rel_now = self._rel(now_ms)
        for wider in parents(context):
            members = self._members.get((wider, route_id))
            if not members:
                continue
            converted = exposure = 0.0
            for arm in members:
                converted += arm.converted
                exposure += arm.settled + max(0.0, arm.lin_a + rel_now * arm.lin_b - arm.lin_c)
            if exposure * scale >= BORROW:
                return (converted * scale + a) / (exposure * scale + a + b)
        return None

    def own(self, context: Context, route_ids: list[str], now_ms: int) -> list[Estimate]:
        """The routes' estimates from this context's evidence alone (no borrowing)."""
        scale = self._scale(now_ms)
        current = now_ms >= self._advanced_ms
        if now_ms > self._advanced_ms:
            self._advance(now_ms)
        rel_now = self._rel(now_ms)
        arms = self.arms
        out = []
        for route_id in route_ids:
            arm = arms.get((context, route_id))
            if arm is None:
                out.append(self._estimate(None, 0.0, scale))
                continue
            if current:
                pending = arm.lin_a + rel_now * arm.lin_b - arm.lin_c
                if pending < 0.0:  # rounding in the running sums
                    pending = 0.0
            else:
                pending = self._exact_pending(arm, now_ms)
            out.append(self._estimate(arm, pending, scale))
        return out

    def _estimate(self, arm: Arm | None, pending: float, scale: float) -> Estimate:
        a, b = self.prior
        if arm is None:
            return Estimate(a / (a + b), 0.0, None, 0.0)
        exposure = (arm.settled + pending) * scale
        converted = arm.converted * scale
        dlr_rate = arm.dlr_delivered / arm.dlr_seen if arm.dlr_seen > 1e-9 else None
        mean = (converted + a) / (exposure + a + b)
        calibration = None
        if arm.cal_delivered * scale >= _MIN_CALIBRATION:
            calibration = (
                (arm.cal_delivered_conv + 0.5) / (arm.cal_delivered + 1.0),
                (arm.cal_failed_conv + 0.5) / (arm.cal_failed + 1.0),
            )
        return Estimate(
            min(1.0, mean), exposure, dlr_rate, arm.sent * scale, arm.dlr_seen * scale, calibration
        )
