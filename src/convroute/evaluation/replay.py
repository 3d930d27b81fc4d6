"""Replaying logged traffic through a candidate policy: at each logged decision, in time
order, the candidate is asked what it would have done (its probability of every candidate
route), having learned from everything logged before it (the logged decisions, the routes the
logging policy took, and their outcomes as they arrived); then ``estimators.evaluate`` weighs
the logged rewards by how much more or less often the candidate would have taken the logged
route.

The reward model DR needs is cross-fitted: decisions are split in two folds by a hash of
their id, and each fold's predictions come from the other fold's conversion rates
(``RewardModel``), so no decision predicts its own reward.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from convroute.evaluation.estimators import MIN_ESS, Evaluation, Step, evaluate
from convroute.routing.base import Goal, LedgerPolicy, Objective
from convroute.routing.policy import Candidate, Context, Outcome

PRIOR = 5.0  # pseudo-observations a destination's rate takes from the route's everywhere


@dataclass(frozen=True, slots=True)
class LoggedStep:
    """A logged decision with what came of it."""

    decision_id: str
    context: Context
    candidates: tuple[Candidate, ...]
    chosen: str  # route id
    propensity: float  # the logging policy's probability of it
    sent_ms: int
    converted: bool
    logged: tuple[float, ...] | None = None  # every candidate's logged probability, if kept


def reward(objective: Objective, converted: bool, price: float) -> float:
    """A decision's reward under ``objective``: a conversion, less lambda x the price for
    the value goal (the cheapest-within goal chooses differently; it values conversions)."""
    r = 1.0 if converted else 0.0
    return r - objective.lam * price if objective.goal is Goal.VALUE else r


def _fold(decision_id: str) -> int:
    return hashlib.blake2b(decision_id.encode(), digest_size=1).digest()[0] & 1


class RewardModel:
    """Cross-fitted conversion rates per destination, route and ten minutes of send time:
    fold 0's from fold 1's decisions and the other way round, each level smoothed towards
    the wider one (the route's rate at the destination over the whole period, then the
    route's everywhere, then every decision's), so that an outage or a drift shows in the
    predictions where there is evidence of it."""

    BUCKET_MS = 600_000

    def __init__(self, steps: Sequence[LoggedStep]) -> None:
        self._cells: list[dict[object, list[float]]] = [{}, {}]
        self._all = [[0.0, 0.0], [0.0, 0.0]]
        for s in steps:
            f = _fold(s.decision_id)
            cells = self._cells[f]
            bucket = s.sent_ms // self.BUCKET_MS
            for key in (s.chosen, (s.context, s.chosen), (s.context, s.chosen, bucket)):
                cell = cells.setdefault(key, [0.0, 0.0])
                cell[0] += s.converted
                cell[1] += 1.0
            self._all[f][0] += s.converted
            self._all[f][1] += 1.0

    def rate(self, decision_id: str, context: Context, route_id: str, sent_ms: int) -> float:
        other = 1 - _fold(decision_id)
        converted, n = self._all[other]
        rate = (converted + 1.0) / (n + 2.0)
        cells = self._cells[other]
        bucket = sent_ms // self.BUCKET_MS
        for key in (route_id, (context, route_id), (context, route_id, bucket)):
            cell = cells.get(key)
            if cell is not None:
                rate = (cell[0] + PRIOR * rate) / (cell[1] + PRIOR)
        return rate


def targets(
    policy: LedgerPolicy,
    steps: Sequence[LoggedStep],
    outcomes: Mapping[str, Sequence[Outcome]],
    objective: Objective | None = None,
) -> list[tuple[float, ...]]:
    """The candidate ``policy``'s probability of every candidate at each of ``steps`` (in
    time order), deciding under ``objective`` (default: its own): it learns from the logged
    decisions and their ``outcomes`` (by decision id: receipts and conversions at their
    times) as they happened, and is asked at each decision what it would have done."""
    due: list[tuple[int, int, Outcome]] = []
    n = 0
    out: list[tuple[float, ...]] = []
    for s in steps:
        while due and due[0][0] <= s.sent_ms:
            policy.observe(heapq.heappop(due)[2])
        candidates = list(s.candidates)
        target = policy.advance(s.context, candidates, s.sent_ms, objective)
        policy.record(s.decision_id, s.context, s.chosen, s.sent_ms)
        for o in outcomes.get(s.decision_id, ()):
            n += 1
            heapq.heappush(due, (o.at_ms, n, o))
        out.append(tuple(target.get(c.route_id, 0.0) for c in candidates))
    return out


def estimate(
    steps: Sequence[LoggedStep],
    target: Sequence[tuple[float, ...]],
    objective: Objective,
    min_ess: float = MIN_ESS,
    model: RewardModel | None = None,
) -> Evaluation:
    """The estimators on ``steps`` with the candidate's probabilities ``target``, the reward
    of each decision its conversion valued by ``objective`` (``reward``)."""
    model = model or RewardModel(steps)
    out = []
    for s, probabilities in zip(steps, target, strict=True):
        ids = tuple(c.route_id for c in s.candidates)
        chosen = ids.index(s.chosen)
        out.append(
            Step(
                actions=ids,
                chosen=chosen,
                propensity=s.propensity,
                reward=reward(objective, s.converted, s.candidates[chosen].price),
                target=probabilities,
                predicted=tuple(
                    reward(objective, False, c.price)
                    + model.rate(s.decision_id, s.context, c.route_id, s.sent_ms)
                    for c in s.candidates
                ),
                logged=s.logged,
            )
        )
    return evaluate(out, min_ess)


def replay(
    policy: LedgerPolicy,
    steps: Sequence[LoggedStep],
    outcomes: Mapping[str, Sequence[Outcome]],
    objective: Objective | None = None,
    min_ess: float = MIN_ESS,
) -> Evaluation:
    """The candidate ``policy``'s estimated mean reward per decision on ``steps`` under
    ``objective`` (default: its own), which it also decides by."""
    objective = objective or policy.objective
    return estimate(steps, targets(policy, steps, outcomes, objective), objective, min_ess)
