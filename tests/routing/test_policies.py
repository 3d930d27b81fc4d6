"""The routing engine's invariants (Hypothesis) and small, fast simulations in which a clearly
better route must win."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convroute.routing.base import Goal, Objective
from convroute.routing.delay import ConversionDelay
from convroute.routing.policies import POLICIES, make_policy
from convroute.routing.policy import Candidate, Outcome, OutcomeKind
from tests.routing.streams import CTX, ROUTES, _events, _replay


@settings(max_examples=60, deadline=None)
@given(events=_events, name=st.sampled_from(list(POLICIES)), now=st.integers(0, 2_000_000))
def test_probabilities_are_a_distribution_over_the_candidates(
    events: list[tuple[int, int, OutcomeKind | None, int]], name: str, now: int
) -> None:
    policy, outcomes = _replay(name, events)
    for outcome in outcomes:
        policy.observe(outcome)
    probabilities = policy.probabilities(CTX, ROUTES, now)
    assert set(probabilities) == {c.route_id for c in ROUTES}
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert math.isclose(sum(probabilities.values()), 1.0)
    decision = policy.choose("next", CTX, ROUTES, now, random.Random(1))
    assert decision.probability == probabilities[decision.route_id]
    assert decision.probability > 0


@pytest.mark.parametrize("name", list(POLICIES))
def test_same_seed_same_decisions(name: str) -> None:
    def run(seed: int) -> list[str]:
        policy, rng = make_policy(name), random.Random(seed)
        chosen = []
        for t in range(300):
            d = policy.choose(f"d{t}", CTX, ROUTES, t * 1000, rng)
            chosen.append(d.route_id)
            if rng.random() < 0.5:
                policy.observe(Outcome(d.decision_id, OutcomeKind.CONVERTED, t * 1000 + 5000))
        return chosen

    assert run(7) == run(7)


def _simulate(
    name: str,
    rates: list[float],
    steps: int,
    change: tuple[int, list[float]] | None = None,
    seed: int = 1,
    objective: Objective | None = None,
    prices: list[float] | None = None,
) -> list[str]:
    """One message a second; conversions after a log-normal delay; the window closes at 300 s."""
    delay = ConversionDelay()
    policy = make_policy(name, delay, objective)
    rng = random.Random(seed)
    candidates = [Candidate(f"r{i}", (prices or [0.0] * len(rates))[i]) for i in range(len(rates))]
    due: list[tuple[int, Outcome]] = []
    chosen = []
    for t in range(steps):
        now = t * 1000
        if change and t == change[0]:
            rates = change[1]
        due.sort(key=lambda x: x[0])
        while due and due[0][0] <= now:
            policy.observe(due.pop(0)[1])
        d = policy.choose(f"d{t}", CTX, candidates, now, rng)
        chosen.append(d.route_id)
        i = int(d.route_id[1:])
        if rng.random() < rates[i]:
            lag = min(299.0, math.exp(math.log(20) + rng.gauss(0, 1)))
            at = now + int(lag * 1000)
            due.append((at, Outcome(d.decision_id, OutcomeKind.CONVERTED, at)))
        else:
            closes = now + 300_000
            due.append((closes, Outcome(d.decision_id, OutcomeKind.NOT_CONVERTED, closes)))
    return chosen


@pytest.mark.parametrize("name", ["convroute", "epsilon-greedy"])
def test_a_clearly_better_route_wins(name: str) -> None:
    chosen = _simulate(name, [0.3, 0.9, 0.5], 3000)
    late = chosen[-1000:]
    assert late.count("r1") / len(late) > 0.85


def test_the_default_leaves_a_route_that_fails() -> None:
    chosen = _simulate("convroute", [0.9, 0.6], 4000, change=(1500, [0.05, 0.6]))
    after = chosen[2500:]
    assert after.count("r0") / len(after) < 0.15


def test_value_objective_weighs_price() -> None:
    # r0 converts a little better but costs far more: with lambda = 10, r1 is worth more
    objective = Objective(Goal.VALUE, lam=10.0)
    chosen = _simulate("convroute", [0.90, 0.85], 3000, objective=objective, prices=[0.05, 0.01])
    assert chosen[-1000:].count("r1") > 850


def test_cheapest_within_epsilon_of_the_best() -> None:
    # r0 converts best; r1 is within 5 points and much cheaper; r2 is cheapest but far worse
    objective = Objective(Goal.CHEAPEST_WITHIN, epsilon=0.05)
    chosen = _simulate(
        "convroute", [0.90, 0.88, 0.50], 4000, objective=objective, prices=[0.05, 0.02, 0.01]
    )
    assert chosen[-1000:].count("r1") > 850


def test_unknown_policy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown policy 'best'"):
        make_policy("best")
