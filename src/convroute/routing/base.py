"""What every routing policy shares (DESIGN 5.7): the objective it values routes by, what an
estimate rests on, the view an operator gets, drawing a route, and ``LedgerPolicy``, the base
and interface of every named policy (``policies.py`` has the registry).

Lists that hold one item per candidate are paired with ``zip`` without ``strict`` (noqa:
B905): in a loop or a comprehension, such a zip compiles to a plain indexed loop, where
``strict=True`` builds a zip object at every decision.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

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

    def __reduce__(self) -> tuple[type[Objective], tuple[Goal, float, float]]:
        # (a frozen class: made again from its fields, also in the compiled build)
        return (Objective, (self.goal, self.lam, self.epsilon))

    def value(self, rate: float, price: float) -> float:
        """The value of a route converting at ``rate`` for ``price`` per message."""
        return rate - self.lam * price if self.goal is Goal.VALUE else rate


class Basis(StrEnum):
    """What a route's current estimate rests on."""

    LONG_TERM = "long-term"  # the slow ledger: stable evidence
    CHANGED = "changed"  # recent evidence departs from the long-term: the route changed
    SINCE_CHANGE = "since-change"  # a change point was found: only the evidence since then
    RECEIPTS = "receipts"  # the route's calibrated receipts predict a drop before conversions
    RECEIPTS_RISE = "receipts-rise"  # ... or a rise, where they have proved honest: tried on them
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


class LedgerPolicy:
    """What every named policy is: a ledger of its decisions and their outcomes, and the
    interface the service and the simulator use (``policy.py``'s, plus recording decisions
    read back from a log, explaining, pace and the pumping watch it may keep).

    ``probabilities`` and ``explain`` only read; ``advance`` is where time passes (the
    periodic tests a policy runs as it goes) and answers the probabilities a decision taken
    now uses. Sends call it (through ``choose``), and so does the service's periodic look."""

    name = "base"
    watch: PumpingWatch | None = None  # the pumping watch on this ledger, if it keeps one
    objective: Objective = Objective()  # what routes are valued by (policies that keep one)

    def __init__(self, ledger: Ledger | None = None) -> None:
        self.ledger = ledger or Ledger()

    def probabilities(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        objective: Objective | None = None,
    ) -> dict[str, float]:
        """The probability of each candidate now, as a decision now would have it; changes
        nothing. ``objective``: an account's own, instead of the policy's (the estimates
        are the same; only the valuation differs)."""
        with self.ledger.provisional(now_ms):
            return self._probabilities(context, candidates, now_ms, False, objective)

    def advance(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        objective: Objective | None = None,
    ) -> dict[str, float]:
        """Let time pass to ``now_ms`` for ``context`` (the ledger's ages, a policy's periodic
        tests), then the probabilities a decision taken now uses (under ``objective``, where
        given: an account's own)."""
        return self._probabilities(context, candidates, now_ms, True, objective)

    def _probabilities(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        step: bool,
        objective: Objective | None = None,
    ) -> dict[str, float]:
        """The probabilities; with ``step``, the policy's periodic tests run first where due
        (``advance``). Without, it only reads (inside ``Ledger.provisional``). Policies
        without an objective of their own ignore ``objective``."""
        raise NotImplementedError

    def set_pace(self, pace: float) -> None:
        """Run the policy's memories ``pace`` times faster: for traffic played faster than
        real time (a scenario at ``pace`` x), every time constant divides by ``pace``."""
        self.ledger.set_pace(pace)

    def choose(
        self,
        decision_id: str,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        rng: random.Random,
    ) -> Decision:
        return self.decide(decision_id, context, candidates, now_ms, rng)[0]

    def decide(
        self,
        decision_id: str,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        rng: random.Random,
    ) -> tuple[Decision, dict[str, float]]:
        """``choose``, with every candidate's probability (what a log keeps)."""
        probabilities = self.advance(context, candidates, now_ms)
        route_id = draw(probabilities, rng)
        self.record(decision_id, context, route_id, now_ms)
        # Decision(...) without the named tuple's Python constructor: one per message
        decision = tuple.__new__(
            Decision, (decision_id, route_id, probabilities[route_id], self.name)
        )
        return decision, probabilities

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
        """The candidates' ledger estimates."""
        return self.ledger.estimates(context, [c.route_id for c in candidates], now_ms)

    def explain(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        objective: Objective | None = None,
    ) -> list[View]:
        """What the policy knows and does, per candidate, now (under ``objective``, where
        given); changes nothing."""
        with self.ledger.provisional(now_ms):
            probabilities = self.probabilities(context, candidates, now_ms, objective)
            estimates = self.estimates(context, candidates, now_ms)
        valued_by = objective or self.objective
        return [
            View(
                c.route_id,
                e,
                Basis.LONG_TERM,
                valued_by.value(e.mean, c.price),
                e.mean,
                probabilities[c.route_id],
            )
            for c, e in zip(candidates, estimates)  # noqa: B905
        ]


def _preferred(candidates: list[Candidate], preference: list[str]) -> list[Candidate]:
    """``candidates`` in the order of ``preference`` (those it does not name last, as given)."""
    if not preference:
        return candidates
    rank = {route_id: i for i, route_id in enumerate(preference)}
    return sorted(candidates, key=lambda c: rank.get(c.route_id, len(rank)))


def _best(candidates: list[Candidate], scores: list[float]) -> str:
    """The highest score; ties go to the earlier candidate (so probabilities are exact)."""
    best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
    return candidates[best].route_id
