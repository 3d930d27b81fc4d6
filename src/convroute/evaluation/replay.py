"""Replaying logged traffic through a candidate policy: at each logged decision, in time
order, the candidate is asked what it would have done (its probability of every candidate
route), having learned from everything before it (choices of its own coupled to the logged
ones, ``coupling.py``, with the outcomes the log shows for them, as they arrived); then
``estimators.evaluate`` weighs the logged rewards by how much more or less often the
candidate would have taken the logged route.

The reward model DR needs is cross-fitted: decisions are split in two folds by a hash of
their id, and each fold's predictions come from the other fold's conversion rates
(``RewardModel``), so no decision predicts its own reward.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from convroute.evaluation.coupling import Coupling
from convroute.evaluation.estimators import MIN_ESS, Evaluation, Step, evaluate
from convroute.routing.base import Goal, LedgerPolicy, Objective
from convroute.routing.policy import Candidate, Context, Outcome

STRENGTH = (0.5, 1000.0)
"""The least and most pseudo-observations a level's rate takes from the wider level's."""


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
    the wider one (the route's rate at the destination per half hour, then over the whole
    period, then the route's everywhere, then every decision's), so that an outage or a drift
    shows in the predictions where there is evidence of it.

    How far a level leans on the wider one is learned from the log, as empirical Bayes does
    (a beta-binomial's method of moments, ``_strength``): where the rates of a route at a
    destination differ from one stretch of time to the next beyond what their counts explain
    (an outage), each leans little and follows its own decisions; where they agree, each
    leans much and its noise is smoothed away. The half hour is there because the log sends
    little to a route while it is down: its ten-minute cells then hold a decision or two, and
    the half hour's holds the start of the outage, when the log was still sending there.

    Why it matters: a doubly robust term is the model's value plus a weight times the
    residual, and for a conversion (0 or 1) it varies less than the IPS term only where the
    model predicts under twice the true rate. A model that predicted a down route's period
    rate where the log's rare explorations carried weights of hundreds made DR's error larger
    than IPS's (docs/benchmarks.md, "Offline policy evaluation")."""

    BUCKET_MS = 600_000

    def __init__(self, steps: Sequence[LoggedStep]) -> None:
        # per fold, per level (a route; a route at a destination; that per half hour; per ten
        # minutes), the cells' [conversions, decisions] by key, and every decision's
        self._levels: list[tuple[dict[Any, list[float]], ...]] = [
            tuple({} for _ in _GROUP) for _fold_ in range(2)
        ]
        self._all = [[0.0, 0.0], [0.0, 0.0]]
        for s in steps:
            f = _fold(s.decision_id)
            for level, key in zip(
                self._levels[f], _keys(s.context, s.chosen, s.sent_ms), strict=True
            ):
                cell = level.setdefault(key, [0.0, 0.0])
                cell[0] += s.converted
                cell[1] += 1.0
            self._all[f][0] += s.converted
            self._all[f][1] += 1.0
        # the pseudo-observations a cell takes from its wider one, per level and group
        self._strength = [
            _strengths(levels, total) for levels, total in zip(self._levels, self._all, strict=True)
        ]

    def rate(self, decision_id: str, context: Context, route_id: str, sent_ms: int) -> float:
        other = 1 - _fold(decision_id)
        converted, n = self._all[other]
        rate = (converted + 1.0) / (n + 2.0)
        keys = _keys(context, route_id, sent_ms)
        for level, strength, group, key in zip(
            self._levels[other], self._strength[other], _GROUP, keys, strict=True
        ):
            cell = level.get(key)
            if cell is None:
                break
            k = strength.get(group(key), STRENGTH[1])
            rate = (cell[0] + k * rate) / (cell[1] + k)
        return rate


def _keys(context: Context, route_id: str, sent_ms: int) -> tuple[Any, ...]:
    """A decision's cell at each level, the widest first: a route; a route at a destination;
    that per half hour; that per ten minutes. Each key is its wider one's plus one item."""
    b = sent_ms // RewardModel.BUCKET_MS
    return (
        (route_id,),
        (route_id, context),
        (route_id, context, b // 3),
        (route_id, context, b // 3, b),
    )


_GROUP: tuple[Callable[[Any], Any], ...] = (
    lambda _: (),  # the routes' strength is learned from all of them
    lambda key: key[:1],  # a route's destinations', from that route's
    lambda key: key[:2],  # the stretches of time of a route at a destination, from theirs
    lambda key: key[:2],
)
"""The cells whose spread a level's strength is learned from, by a cell's key: its siblings,
and, for the ten-minute cells, their cousins (a half hour holds only three)."""


def _strengths(
    levels: Sequence[Mapping[Any, list[float]]], total: list[float]
) -> list[dict[Any, float]]:
    """Per level, per group of cells (``_GROUP``), the pseudo-observations each takes from
    its wider cell: ``_strength`` of the cells' counts against their wider cells' rates."""
    out = []
    wider: Mapping[Any, list[float]] = {(): total}
    for level, group in zip(levels, _GROUP, strict=True):
        children: dict[Any, list[tuple[float, float, float]]] = {}
        for key, (c, n) in level.items():
            parent = wider[key[:-1]]
            children.setdefault(group(key), []).append((c, n, parent[0] / parent[1]))
        out.append({g: _strength(kids) for g, kids in children.items()})
        wider = level
    return out


def _strength(children: Sequence[tuple[float, float, float]]) -> float:
    """The prior strength ``k`` of a beta-binomial whose draws are the rates of ``children``
    (each: conversions, decisions, and the rate of its wider cell, ``m``), by the method of
    moments: the spread of their rates around ``m`` beyond the binomial's own is the prior's
    variance ``m (1 - m) / (k + 1)``. Each child weighs the same, however many decisions it
    holds: the log sends little where a route is down, so weighing children by their
    decisions would hide the outages the levels are there to show. With fewer than two
    children, or no spread beyond the binomial's, the strength is the most."""
    if len(children) < 2:
        return STRENGTH[1]
    # E[(p_i - m)^2] = tau^2 + (m (1 - m) - tau^2) / n_i, solved for tau^2 over the children
    excess = math.fsum((c / n - m) ** 2 - m * (1.0 - m) / n for c, n, m in children)
    scale = math.fsum(1.0 - 1.0 / n for _, n, _ in children)
    binomial = math.fsum(m * (1.0 - m) for _, _, m in children) / len(children)
    if excess <= 0.0 or scale <= 0.0 or binomial <= 0.0:
        return STRENGTH[1]
    return min(STRENGTH[1], max(STRENGTH[0], binomial / (excess / scale) - 1.0))


def targets(
    policy: LedgerPolicy,
    steps: Sequence[LoggedStep],
    outcomes: Mapping[str, Sequence[Outcome]],
    objective: Objective | None = None,
    coupling: Coupling | None = None,
) -> list[tuple[float, ...]]:
    """The candidate ``policy``'s probability of every candidate at each of ``steps`` (in
    time order), deciding under ``objective`` (default: its own): it learns from the logged
    decisions and their ``outcomes`` (by decision id: receipts and conversions at their
    times) as they happened, and is asked at each decision what it would have done. With a
    ``coupling``, it learns instead from choices of its own coupled to the logged ones
    (``coupling.py`` says why)."""
    due: list[tuple[int, int, Outcome]] = []
    n = 0
    out: list[tuple[float, ...]] = []
    for s in steps:
        while due and due[0][0] <= s.sent_ms:
            policy.observe(heapq.heappop(due)[2])
        candidates = list(s.candidates)
        target = policy.advance(s.context, candidates, s.sent_ms, objective)
        if coupling is None:
            decision_id, route, seen = s.decision_id, s.chosen, outcomes.get(s.decision_id, ())
        else:
            decision_id, route, seen = coupling.experience(s, target)
        policy.record(decision_id, s.context, route, s.sent_ms)
        for o in seen:
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
    coupled: int | None = 0,
) -> Evaluation:
    """The candidate ``policy``'s estimated mean reward per decision on ``steps`` under
    ``objective`` (default: its own), which it also decides by. It learns from choices of its
    own coupled to the logged ones (``Coupling``), drawn with the seed ``coupled``; with None,
    from the logged decisions alone (which biases policies that learn from their own
    choices: docs/benchmarks.md, "Offline policy evaluation")."""
    objective = objective or policy.objective
    coupling = None if coupled is None else Coupling(steps, outcomes, random.Random(coupled))
    target = targets(policy, steps, outcomes, objective, coupling)
    return estimate(steps, target, objective, min_ess)
