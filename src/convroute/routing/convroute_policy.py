"""``convroute``, the default policy: an optimistic index on the delay-corrected, forgetting
conversion estimate, valued by the account's objective, with a floor of uniform exploration
so that a recovered route is noticed; change points found per route, and a pumping watch.

Its periodic work (the change-point test, the pumping watch's look, every ``check_every_ms``
per destination) runs in ``advance`` only: ``probabilities`` and ``explain`` read the state
as it is, so an operator's read at any time changes no decision.

Lists that hold one item per candidate are paired with ``zip`` without ``strict`` (see
``base.py``).
"""

from __future__ import annotations

import math

from convroute.routing.base import Basis, Goal, LedgerPolicy, Objective, View
from convroute.routing.changes import change_point, shortfall_z, totals
from convroute.routing.estimates import Estimate, Ledger
from convroute.routing.policy import Candidate, Context
from convroute.routing.pumping import PumpingWatch

FAST_TAU_S = 200.0  # the default policy's short memory (s): a change shows within minutes
CHECK_EVERY_MS = 10_000.0  # how often the default policy's pumping watch and change test look
CHANGE_DELTA = 0.001  # the change-point test's false-alarm level (its threshold's delta)
SINCE_CHANGE_S = 2400.0  # how long after a change point only the evidence since it counts
MIN_SINCE = 30.0  # ... at most: sooner, once that evidence (this much) agrees with the slow memory
SHARED_Z = 2.0  # a drop the other routes show too (z above this) is the traffic's, not a route's
RISES = True  # receipts may predict a rise too (``_honest``), not only a drop
DROP_MIN = 10.0  # recent receipts before they may predict a drop
GUARD_Z = 1.0  # recent conversions contradict a rise below it by more than this many s.e.
RISE_MIN = 3.0  # ... a rise (a route out of favour gets few: a wide interval guards it)
HONEST_GAP = 0.3  # receipts discriminate: P(convert | delivered) - P(convert | failed) at least
HONEST_FAILED = 10.0  # ... with at least this many settled decisions whose receipt said failed


def _honest(calibration: tuple[float, float, float, float] | None) -> bool:
    """Whether a route's receipts have proved to tell converting messages from the others:
    enough "failed" receipts seen, and those messages converting far less than the ones
    said delivered. A route whose receipts always say delivered (fake) never proves it."""
    if calibration is None:
        return False
    if_delivered, if_failed, _, failed = calibration
    return failed >= HONEST_FAILED and if_delivered - if_failed >= HONEST_GAP


class ConvroutePolicy(LedgerPolicy):
    """convroute's default: an optimistic (UCB) index on the delay-corrected conversion
    estimate, valued by the objective, with a floor of uniform exploration.

    The ledger keeps two memories of every decision: a slow one (long: precise) and a fast
    one (short: current). Where a route's fast estimate departs from its slow one by more than
    ``z`` standard errors, the route has changed, and its index uses the fast estimate alone
    until the two agree again: a restart local to that route, read off sums that do not
    depend on the order outcomes arrive in."""

    name = "convroute"

    def __init__(
        self,
        ledger: Ledger | None = None,
        objective: Objective | None = None,
        explore: float = 0.01,
        boldness: float = 0.3,
        z: float = 3.0,
        watch: bool = True,
        delta: float | None = CHANGE_DELTA,
        since_change_s: float = SINCE_CHANGE_S,
    ) -> None:
        ledger = ledger or Ledger(also_tau_s=(FAST_TAU_S,))
        if ledger.memories < 2:
            raise ValueError("convroute's policy needs a ledger with a second, fast memory")
        super().__init__(ledger)
        self.objective = objective or Objective()
        self.explore = explore
        self.boldness = boldness
        self.z = z
        # change points (``changes.py``): per route, where its rate last changed and when
        # that was found; for ``since_change_ms`` after, only the evidence since counts
        self.delta = delta
        if delta is not None:
            ledger.keep_history()
        self.since_change_ms = since_change_s * 1000.0
        self._changed: dict[tuple[Context, str], tuple[float, int]] = {}
        self._next_test: dict[Context, int] = {}
        self._shared: set[tuple[Context, str]] = set()  # changes the other routes share
        # a pumping watch reading this ledger: while it holds an episode raised for a
        # destination, routes are valued at their rates from before the episode
        self.watch = PumpingWatch(ledger=ledger) if watch else None
        self._next_check: dict[Context, int] = {}
        self.check_every_ms = CHECK_EVERY_MS

    def set_pace(self, pace: float) -> None:
        super().set_pace(pace)
        self.check_every_ms /= pace
        self.since_change_ms /= pace
        if self.watch is not None:
            self.watch.set_pace(pace)

    def current(
        self, context: Context, candidates: list[Candidate], now_ms: int, step: bool = False
    ) -> list[Estimate]:
        """Each route's estimate: the slow one, or the fast one where the route changed, or,
        where the route's own receipts have proved to predict its conversions and recent
        receipts say it now fails, the rate those receipts predict."""
        return self.based(context, candidates, now_ms, step)[0]

    def based(
        self, context: Context, candidates: list[Candidate], now_ms: int, step: bool = False
    ) -> tuple[list[Estimate], list[Basis]]:
        """``current``, and what each estimate rests on. With ``step``, time passes first:
        the pumping watch's look and the change-point test run where they are due, and a
        route whose evidence since its change agrees with its memories again is settled;
        the estimates are those of that same moment, as a decision then takes them."""
        ids = [c.route_id for c in candidates]
        ledger = self.ledger
        slow, fast = ledger.own_all(context, ids, now_ms)
        slow = ledger.borrowing(context, ids, slow, now_ms, pooled=True)
        if self.watch is not None:
            before = self._before_pumping(context, ids, now_ms, step)
            if before is not None:
                return [
                    s._replace(mean=before[r]) if r in before else s
                    for r, s in zip(ids, slow)  # noqa: B905
                ], [Basis.PUMPING if r in before else Basis.LONG_TERM for r in ids]
        z = self.z
        since = None
        if self.delta is not None:
            since = self._since_change(context, ids, slow, now_ms, step)
        a, b = ledger.prior
        estimates, bases = [], []
        for i, (s, f) in enumerate(zip(slow, fast)):  # noqa: B905
            chosen, basis = s, Basis.LONG_TERM
            variance = s.mean * (1.0 - s.mean)
            if variance < 0.01:
                variance = 0.01
            if abs(f.mean - s.mean) > z * math.sqrt(variance / (f.exposure + 1.0)):
                chosen, basis = f, Basis.CHANGED
            after = None if since is None else since[i]
            if after is not None:
                exposure, converted = after
                mean = min(1.0, (converted + a) / (exposure + a + b))
                spread = math.sqrt(max(0.01, mean * (1.0 - mean)) / (exposure + 1.0))
                if exposure > MIN_SINCE and abs(s.mean - mean) <= z * spread:
                    if step:
                        self._settled(context, ids[i])  # the long memory has caught up
                else:
                    chosen, basis = f._replace(mean=mean, exposure=exposure), Basis.SINCE_CHANGE
            if s.calibration is not None and f.dlr_rate is not None and f.receipts >= RISE_MIN:
                # what recent receipts predict, through the route's own calibration
                # (P(convert | delivered), P(convert | failed), from settled decisions)
                if_delivered, if_failed, _, _ = s.calibration
                predicted = f.dlr_rate * if_delivered + (1.0 - f.dlr_rate) * if_failed
                n = f.receipts
                spread = math.sqrt(variance / (n + 1.0))
                if n >= DROP_MIN and predicted < min(chosen.mean, s.mean - z * spread):
                    chosen, basis = f._replace(mean=predicted, exposure=n), Basis.RECEIPTS
                elif (
                    RISES
                    and predicted > chosen.mean + z * spread
                    and _honest(s.calibration)
                    and f.mean + GUARD_Z * math.sqrt(variance / (f.exposure + 1.0)) >= predicted
                ):
                    # a rise the receipts predict, where they have proved to discriminate
                    # and recent conversions do not contradict it: tried on the receipts'
                    # word, with no more than their evidence (fake receipts would show in
                    # the conversions of the traffic this brings, and end it)
                    chosen, basis = f._replace(mean=predicted, exposure=n), Basis.RECEIPTS_RISE
            estimates.append(chosen)
            bases.append(basis)
        return estimates, bases

    def _since_change(
        self, context: Context, ids: list[str], slow: list[Estimate], now_ms: int, step: bool
    ) -> list[tuple[float, float] | None] | None:
        """Per route, (exposure, conversions) since its last change point if one was found
        less than ``since_change_ms`` ago and is the route's own, else None; None if there is
        none. With ``step``, the test (``change_point``) runs first where it is due, every
        ``check_every_ms`` per destination, on each route's history since its last change
        point."""
        ledger, changed, delta = self.ledger, self._changed, self.delta
        assert delta is not None
        if step and now_ms >= self._next_test.get(context, 0):
            self._next_test[context] = now_ms + int(self.check_every_ms)
            for route_id in ids:
                key = (context, route_id)
                last = changed.get(key)
                start = -1.0 if last is None else last[0]
                split = change_point(ledger.settled_since(context, route_id, start, now_ms), delta)
                if split is not None:
                    changed[key] = (split, now_ms)
            self._shared_drops(context, ids, slow, now_ms)
        out: list[tuple[float, float] | None] = []
        found = False
        for route_id in ids:
            key = (context, route_id)
            last = changed.get(key)
            if last is None or now_ms - last[1] >= self.since_change_ms or key in self._shared:
                out.append(None)
                continue
            out.append(totals(ledger.since(context, route_id, last[0], now_ms, pure=not step)))
            found = True
        return out if found else None

    def _shared_drops(
        self, context: Context, ids: list[str], slow: list[Estimate], now_ms: int
    ) -> None:
        """Mark the drops the other routes share: a route that fell at its change point while
        the others, since the same point, convert below their long-term rates too (by more
        than ``SHARED_Z`` standard errors) has not changed on its own: the destination's
        traffic has (pumping, which the watch is there to raise). Its estimate stays with its
        memories."""
        ledger = self.ledger
        for i, route_id in enumerate(ids):
            key = (context, route_id)
            self._shared.discard(key)
            last = self._changed.get(key)
            if last is None or now_ms - last[1] >= self.since_change_ms:
                continue
            exposure, converted = totals(ledger.since(context, route_id, last[0], now_ms))
            if exposure <= 0 or converted / exposure >= slow[i].mean:
                continue  # a rise is the route's own
            others = [
                (ledger.since(context, other, last[0], now_ms), slow[j].mean)
                for j, other in enumerate(ids)
                if j != i
            ]
            if shortfall_z(others) > SHARED_Z:
                self._shared.add(key)

    def _settled(self, context: Context, route_id: str) -> None:
        """The route's estimate goes back to its memories; its change point stays the start
        of the history the test looks at."""
        split, _ = self._changed[(context, route_id)]
        self._changed[(context, route_id)] = (split, -(2**62))

    def _before_pumping(
        self, context: Context, ids: list[str], now_ms: int, step: bool
    ) -> dict[str, float] | None:
        """The routes' rates from before the destination's pumping episode, if one is
        raised (with ``step``, the watch looks again first, every ``check_every_ms``)."""
        watch = self.watch
        assert watch is not None
        if step and now_ms >= self._next_check.get(context, 0):
            self._next_check[context] = now_ms + int(self.check_every_ms)
            episode = watch.active(context)
            watch.check(context, ids, now_ms)
            if episode is not None and not episode.active:
                # over: the episode's traffic said nothing about the routes, and it weighed
                # most on the route that carried it; it leaves the statistics
                start = episode.started_ms - int(watch.baseline_lag_ms)
                self.ledger.cancel_sent_between(context, start, now_ms)
                # and the change points it made (found since) were not the routes' own
                self._changed = {
                    k: v for k, v in self._changed.items() if k[0] != context or v[1] < start
                }
        return watch.baseline(context)

    def explain(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        objective: Objective | None = None,
    ) -> list[View]:
        if len(candidates) == 1:
            return super().explain(context, candidates, now_ms, objective)
        with self.ledger.provisional(now_ms):
            probabilities = self.probabilities(context, candidates, now_ms, objective)
            estimates, bases = self.based(context, candidates, now_ms)
        indices = self.indices(estimates)
        valued_by = objective or self.objective
        return [
            View(
                c.route_id,
                e,
                basis,
                valued_by.value(e.mean, c.price),
                index,
                probabilities[c.route_id],
            )
            for c, e, basis, index in zip(candidates, estimates, bases, indices)  # noqa: B905
        ]

    def indices(self, estimates: list[Estimate]) -> list[float]:
        """Each candidate's optimistic conversion rate."""
        total = sum(e.exposure for e in estimates)
        log_total = math.log(max(math.e, total))
        boldness, sqrt = self.boldness, math.sqrt
        return [
            e.mean + boldness * sqrt(log_total / (e.exposure + e.borrowed + 1.0)) for e in estimates
        ]

    def _probabilities(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        step: bool,
        objective: Objective | None = None,
    ) -> dict[str, float]:
        if len(candidates) == 1:
            return {candidates[0].route_id: 1.0}
        estimates = self.current(context, candidates, now_ms, step)
        indices = self.indices(estimates)
        if objective is None:
            objective = self.objective
        lam = objective.lam if objective.goal is Goal.VALUE else 0.0
        if lam:  # conversion - lambda * price
            prices = [c.price for c in candidates]
            means = [e.mean - lam * p for e, p in zip(estimates, prices)]  # noqa: B905
            values = [x - lam * p for x, p in zip(indices, prices)]  # noqa: B905
        else:
            means, values = [e.mean for e in estimates], indices
        if objective.goal is Goal.CHEAPEST_WITHIN:
            # the cheapest route whose estimate is within epsilon of the best estimate
            floor = max(means) - objective.epsilon
            best_i = min((c.price, i) for i, c in enumerate(candidates) if means[i] >= floor)[1]
        else:
            best_i = 0  # ties go to the earlier candidate
            for i in range(1, len(means)):
                if means[i] > means[best_i]:
                    best_i = i
        # Exploration is spread over time, not in bursts: besides the uniform floor, each other
        # route gets the probability by which its optimistic value exceeds the best's
        # estimate (the chance it is better, roughly); at most half the traffic explores.
        top = means[best_i]
        extra = [0.0 if i == best_i or x <= top else x - top for i, x in enumerate(values)]
        budget = sum(extra)
        if budget > 0.5:
            extra = [x * 0.5 / budget for x in extra]
        floor_share = self.explore / len(candidates) * (1.0 - sum(extra))
        probabilities = {
            c.route_id: floor_share + x
            for c, x in zip(candidates, extra)  # noqa: B905
        }
        best_id = candidates[best_i].route_id
        probabilities[best_id] += 1.0 - sum(probabilities.values())
        return probabilities
