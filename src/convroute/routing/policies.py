"""The routing policies (DESIGN 5.7), behind the one interface of ``policy.py``.

- ``static``: always the first candidate (the caller orders them: cheapest first, or the best
  known at start). What a gateway with a fixed route table does.
- ``random``, ``round-robin``: spread traffic evenly, as open-source gateways do.
- ``failover``: the first candidate until its receipts say it fails, then the next.
- ``dlr-only``: the route whose receipts say "delivered" most often (what a naive router
  learns; fake receipts fool it).
- ``epsilon-greedy``: the best delay-corrected conversion estimate, exploring uniformly with
  probability epsilon.
- ``convroute``: the default; an optimistic index on the delay-corrected, forgetting
  conversion estimate, valued by the account's objective, with a floor of uniform
  exploration so that a recovered route is noticed.

Every choice comes with its exact probability under the policy's current state.

Lists that hold one item per candidate are paired with ``zip`` without ``strict`` (noqa:
B905): in a loop or a comprehension, such a zip compiles to a plain indexed loop, where
``strict=True`` builds a zip object at every decision.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from convroute.routing.changes import change_point, shortfall_z, totals
from convroute.routing.delay import ConversionDelay
from convroute.routing.estimates import Estimate, Ledger
from convroute.routing.policy import Candidate, Context, Decision, Outcome
from convroute.routing.pumping import PumpingWatch


class Goal(StrEnum):
    """What an account optimizes."""

    CONVERSIONS = "conversions"  # the most conversions, whatever the price
    VALUE = "value"  # conversion - lambda * price
    CHEAPEST_WITHIN = "cheapest-within"  # the cheapest route within epsilon of the best


@dataclass(frozen=True, slots=True)
class Objective:
    """An account's objective (DESIGN 5.4)."""

    goal: Goal = Goal.CONVERSIONS
    lam: float = 0.0  # value per currency unit, for Goal.VALUE
    epsilon: float = 0.02  # tolerated conversion-rate loss, for Goal.CHEAPEST_WITHIN

    def value(self, rate: float, price: float) -> float:
        """The value of a route converting at ``rate`` for ``price`` per message."""
        return rate - self.lam * price if self.goal is Goal.VALUE else rate


class Basis(StrEnum):
    """What a route's current estimate rests on."""

    LONG_TERM = "long-term"  # the slow ledger: stable evidence
    CHANGED = "changed"  # recent evidence departs from the long-term: the route changed
    SINCE_CHANGE = "since-change"  # a change point was found: only the evidence since then
    RECEIPTS = "receipts"  # the route's calibrated receipts predict a drop before conversions
    PUMPING = "before-pumping"  # a pumping episode is raised: the rate from before it


class View(NamedTuple):
    """A candidate as a policy sees it: for operators (``routes quality``)."""

    route_id: str
    estimate: Estimate
    basis: Basis
    value: float  # the estimate valued by the objective
    optimistic: float  # the optimistic conversion rate exploration is measured by
    probability: float  # of being chosen now


def _one_hot(candidates: list[Candidate], chosen: str) -> dict[str, float]:
    return {c.route_id: 1.0 if c.route_id == chosen else 0.0 for c in candidates}


def _mixed(candidates: list[Candidate], best: str, explore: float) -> dict[str, float]:
    """(1 - explore) on ``best``, ``explore`` spread uniformly over every candidate."""
    share = explore / len(candidates)
    return {c.route_id: share + (1.0 - explore if c.route_id == best else 0.0) for c in candidates}


def draw(probabilities: dict[str, float], rng: random.Random) -> str:
    """A route drawn with the given probabilities (in their order)."""
    point = rng.random()
    total = 0.0
    last = ""
    for route_id, p in probabilities.items():
        total += p
        last = route_id
        if point < total:
            return route_id
    return last  # rounding: the last candidate with any probability


class LearningPolicy:
    """Shared by every policy: a ledger of decisions and their outcomes."""

    name = "base"

    def __init__(self, ledger: Ledger | None = None) -> None:
        self.ledger = ledger or Ledger()

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        raise NotImplementedError

    def choose(
        self,
        decision_id: str,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        rng: random.Random,
    ) -> Decision:
        probabilities = self.probabilities(context, candidates, now_ms)
        route_id = draw(probabilities, rng)
        self.record(decision_id, context, route_id, now_ms)
        # Decision(...) without the named tuple's Python constructor: one per message
        return tuple.__new__(Decision, (decision_id, route_id, probabilities[route_id], self.name))

    def record(self, decision_id: str, context: Context, route_id: str, sent_ms: int) -> None:
        """Learn that a decision was taken (by this policy, or read back from a log: a service
        records decisions as it reads them from its event log, its own and other instances')."""
        if decision_id not in self.ledger.records:
            self._chosen(context, route_id)
        self.ledger.record(decision_id, context, route_id, sent_ms)

    def _chosen(self, context: Context, route_id: str) -> None:
        """Hook for policies with their own state (round-robin)."""

    def observe(self, outcome: Outcome) -> None:
        self.ledger.observe(outcome)

    def estimates(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> list[Estimate]:
        return self.ledger.estimates(context, [c.route_id for c in candidates], now_ms)

    def explain(self, context: Context, candidates: list[Candidate], now_ms: int) -> list[View]:
        """What the policy knows and does, per candidate, now (changes no state but time)."""
        probabilities = self.probabilities(context, candidates, now_ms)
        return [
            View(c.route_id, e, Basis.LONG_TERM, e.mean, e.mean, probabilities[c.route_id])
            for c, e in zip(candidates, self.estimates(context, candidates, now_ms))  # noqa: B905
        ]


def _preferred(candidates: list[Candidate], preference: list[str]) -> list[Candidate]:
    """``candidates`` in the order of ``preference`` (those it does not name last, as given)."""
    if not preference:
        return candidates
    rank = {route_id: i for i, route_id in enumerate(preference)}
    return sorted(candidates, key=lambda c: rank.get(c.route_id, len(rank)))


class Static(LearningPolicy):
    """Always the preferred candidate: the first of ``preference`` that is a candidate (the
    best route known at start), else the first candidate as given (the cheapest)."""

    name = "static"

    def __init__(self, ledger: Ledger | None = None, preference: list[str] | None = None) -> None:
        super().__init__(ledger)
        self.preference = preference or []

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        return _one_hot(candidates, _preferred(candidates, self.preference)[0].route_id)


class RandomChoice(LearningPolicy):
    name = "random"

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        return {c.route_id: 1.0 / len(candidates) for c in candidates}


class RoundRobin(LearningPolicy):
    """Each context cycles through its candidates; deterministic given the state."""

    name = "round-robin"

    def __init__(self, ledger: Ledger | None = None) -> None:
        super().__init__(ledger)
        self._turn: dict[Context, int] = {}

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        turn = self._turn.get(context, 0) % len(candidates)
        return _one_hot(candidates, candidates[turn].route_id)

    def _chosen(self, context: Context, route_id: str) -> None:
        self._turn[context] = self._turn.get(context, 0) + 1


class Failover(LearningPolicy):
    """The first candidate whose recent receipts do not say it fails; the first otherwise."""

    name = "failover"

    def __init__(
        self,
        ledger: Ledger | None = None,
        min_receipts: float = 20.0,
        max_failed: float = 0.5,
        preference: list[str] | None = None,
    ) -> None:
        super().__init__(ledger)
        self.min_receipts = min_receipts
        self.max_failed = max_failed
        self.preference = preference or []

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        candidates = _preferred(candidates, self.preference)
        for c in candidates:
            arm = self.ledger.arms.get((context, c.route_id))
            if arm is None or arm.dlr_seen < self.min_receipts:
                return _one_hot(candidates, c.route_id)
            if 1.0 - arm.dlr_delivered / arm.dlr_seen <= self.max_failed:
                return _one_hot(candidates, c.route_id)
        return _one_hot(candidates, candidates[0].route_id)


def _best(candidates: list[Candidate], scores: list[float]) -> str:
    """The highest score; ties go to the earlier candidate (so probabilities are exact)."""
    best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
    return candidates[best].route_id


class DlrOnly(LearningPolicy):
    """Greedy on the share of receipts saying delivered, exploring with ``epsilon``."""

    name = "dlr-only"

    def __init__(self, ledger: Ledger | None = None, epsilon: float = 0.05) -> None:
        super().__init__(ledger)
        self.epsilon = epsilon

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        rates = [
            1.0 if e.dlr_rate is None else e.dlr_rate  # untried: optimistic
            for e in self.estimates(context, candidates, now_ms)
        ]
        return _mixed(candidates, _best(candidates, rates), self.epsilon)


class EpsilonGreedy(LearningPolicy):
    """Greedy on the delay-corrected conversion estimate's value, exploring with ``epsilon``."""

    name = "epsilon-greedy"

    def __init__(
        self,
        ledger: Ledger | None = None,
        epsilon: float = 0.1,
        objective: Objective | None = None,
    ) -> None:
        super().__init__(ledger)
        self.epsilon = epsilon
        self.objective = objective or Objective()

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        values = [
            self.objective.value(e.mean, c.price)
            for e, c in zip(self.estimates(context, candidates, now_ms), candidates)  # noqa: B905
        ]
        return _mixed(candidates, _best(candidates, values), self.epsilon)


FAST_TAU_S = 200.0  # the default policy's short memory (s): a change shows within minutes
CHECK_EVERY_MS = 10_000.0  # how often the default policy's pumping watch and change test look
CHANGE_DELTA = 0.001  # the change-point test's false-alarm level (its threshold's delta)
SINCE_CHANGE_S = 2400.0  # how long after a change point only the evidence since it counts
MIN_SINCE = 30.0  # ... at most: sooner, once that evidence (this much) agrees with the slow memory
SHARED_Z = 2.0  # a drop the other routes show too (z above this) is the traffic's, not a route's


class Adaptive(LearningPolicy):
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

    def current(self, context: Context, candidates: list[Candidate], now_ms: int) -> list[Estimate]:
        """Each route's estimate: the slow one, or the fast one where the route changed, or,
        where the route's own receipts have proved to predict its conversions and recent
        receipts say it now fails, the rate those receipts predict."""
        return self.based(context, candidates, now_ms)[0]

    def based(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> tuple[list[Estimate], list[Basis]]:
        """``current``, and what each estimate rests on."""
        ids = [c.route_id for c in candidates]
        ledger = self.ledger
        slow, fast = ledger.own_all(context, ids, now_ms)
        slow = ledger.borrowing(context, ids, slow, now_ms)
        if self.watch is not None:
            before = self._before_pumping(context, ids, now_ms)
            if before is not None:
                return [
                    s._replace(mean=before[r]) if r in before else s
                    for r, s in zip(ids, slow)  # noqa: B905
                ], [Basis.PUMPING if r in before else Basis.LONG_TERM for r in ids]
        z = self.z
        since = self._since_change(context, ids, slow, now_ms) if self.delta is not None else None
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
                    self._settled(context, ids[i])  # the long memory has caught up
                else:
                    chosen, basis = f._replace(mean=mean, exposure=exposure), Basis.SINCE_CHANGE
            if s.calibration is not None and f.dlr_rate is not None and f.receipts >= 10:
                # what recent receipts predict, through the route's own calibration
                # (P(convert | delivered), P(convert | failed), from settled decisions)
                if_delivered, if_failed, _ = s.calibration
                predicted = f.dlr_rate * if_delivered + (1.0 - f.dlr_rate) * if_failed
                n = f.receipts
                spread = math.sqrt(variance / (n + 1.0))
                # only a drop: a route cannot earn traffic with receipts (they may be fake)
                if predicted < min(chosen.mean, s.mean - z * spread):
                    chosen, basis = f._replace(mean=predicted, exposure=n), Basis.RECEIPTS
            estimates.append(chosen)
            bases.append(basis)
        return estimates, bases

    def _since_change(
        self, context: Context, ids: list[str], slow: list[Estimate], now_ms: int
    ) -> list[tuple[float, float] | None] | None:
        """Per route, (exposure, conversions) since its last change point if one was found
        less than ``since_change_ms`` ago and is the route's own, else None; None if there is
        none. The test (``change_point``) runs again every ``check_every_ms`` per
        destination, on each route's history since its last change point."""
        ledger, changed, delta = self.ledger, self._changed, self.delta
        assert delta is not None
        if now_ms >= self._next_test.get(context, 0):
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
            out.append(totals(ledger.since(context, route_id, last[0], now_ms)))
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
        self, context: Context, ids: list[str], now_ms: int
    ) -> dict[str, float] | None:
        """The routes' rates from before the destination's pumping episode, if one is
        raised (the watch looks again every ``check_every_ms``)."""
        watch = self.watch
        assert watch is not None
        if now_ms >= self._next_check.get(context, 0):
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

    def explain(self, context: Context, candidates: list[Candidate], now_ms: int) -> list[View]:
        if len(candidates) == 1:
            return super().explain(context, candidates, now_ms)
        probabilities = self.probabilities(context, candidates, now_ms)
        estimates, bases = self.based(context, candidates, now_ms)
        indices = self.indices(estimates)
        return [
            View(
                c.route_id,
                e,
                basis,
                self.objective.value(e.mean, c.price),
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
        return [e.mean + boldness * sqrt(log_total / (e.exposure + 1.0)) for e in estimates]

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        if len(candidates) == 1:
            return {candidates[0].route_id: 1.0}
        estimates = self.current(context, candidates, now_ms)
        indices = self.indices(estimates)
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


def set_pace(policy: LearningPolicy, pace: float) -> None:
    """Run ``policy``'s memories ``pace`` times faster: for traffic played faster than real
    time (a scenario at ``pace`` x), every time constant divides by ``pace``."""
    policy.ledger.set_pace(pace)
    if isinstance(policy, Adaptive):
        policy.check_every_ms /= pace
        policy.since_change_ms /= pace
        if policy.watch is not None:
            policy.watch.set_pace(pace)


PolicyFactory = Callable[[ConversionDelay, Objective], LearningPolicy]

POLICIES: dict[str, PolicyFactory] = {
    "static": lambda d, o: Static(Ledger(d)),
    "random": lambda d, o: RandomChoice(Ledger(d)),
    "round-robin": lambda d, o: RoundRobin(Ledger(d)),
    "failover": lambda d, o: Failover(Ledger(d)),
    "dlr-only": lambda d, o: DlrOnly(Ledger(d)),
    "epsilon-greedy": lambda d, o: EpsilonGreedy(Ledger(d), objective=o),
    "convroute": lambda d, o: Adaptive(Ledger(d, also_tau_s=(FAST_TAU_S,)), objective=o),
}
DEFAULT_POLICY = "convroute"


def make_policy(
    name: str, delay: ConversionDelay | None = None, objective: Objective | None = None
) -> LearningPolicy:
    """A new policy by name (see ``POLICIES``)."""
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}") from None
    return factory(delay or ConversionDelay(), objective or Objective())
