"""One body of evidence, several objectives: an account's objective changes how the routes
are valued, never what is known of them."""

from __future__ import annotations

import random

import pytest

from convroute.routing.base import Goal, Objective
from convroute.routing.convroute_policy import ConvroutePolicy
from convroute.routing.policies import POLICIES, make_policy
from convroute.routing.policy import Candidate, Context, Outcome, OutcomeKind

CTX = Context("GB", None, "otp")
# premium converts 0.9 at 0.10 a message, budget 0.6 at 0.01
CANDIDATES = [Candidate("budget", 0.01), Candidate("premium", 0.10)]
NOW = 2_000_000


def _learned(policy: ConvroutePolicy | None = None) -> ConvroutePolicy:
    policy = policy or ConvroutePolicy(watch=False)
    rng = random.Random(3)
    for i in range(1_200):
        route, rate = ("premium", 0.9) if i % 2 else ("budget", 0.6)
        decision = f"d{i}"
        policy.record(decision, CTX, route, i * 1_000)
        kind = OutcomeKind.CONVERTED if rng.random() < rate else OutcomeKind.NOT_CONVERTED
        policy.observe(Outcome(decision, kind, i * 1_000 + 5_000))
    return policy


def test_the_same_estimates_valued_by_two_objectives_route_differently() -> None:
    policy = _learned()
    bank = policy.probabilities(CTX, CANDIDATES, NOW)  # the policy's own: conversions
    shop = policy.probabilities(CTX, CANDIDATES, NOW, Objective(Goal.VALUE, lam=5.0))
    assert bank["premium"] > 0.9
    assert shop["budget"] > 0.9  # 0.6 - 0.05 beats 0.9 - 0.5
    # 0.6 is within 0.5 of 0.9: budget is the best; premium, better, is still explored
    cheap = policy.probabilities(CTX, CANDIDATES, NOW, Objective(Goal.CHEAPEST_WITHIN, 0.0, 0.5))
    assert cheap["budget"] > 0.6 > cheap["premium"] > 0.1
    # what is known is the same whoever asks
    bank_views = policy.explain(CTX, CANDIDATES, NOW)
    shop_views = policy.explain(CTX, CANDIDATES, NOW, Objective(Goal.VALUE, lam=5.0))
    for b, s in zip(bank_views, shop_views, strict=True):
        assert b.estimate == s.estimate
        assert b.basis == s.basis
    assert shop_views[1].value == pytest.approx(bank_views[1].estimate.mean - 0.5)


def test_an_objective_asked_for_changes_nothing_the_policy_keeps() -> None:
    """Deciding under an account's objective leaves the policy's own decisions as they were:
    the objective is an argument, not state."""
    one, two = _learned(), _learned()
    for k in range(50):
        now = NOW + k * 1_000
        one.advance(CTX, CANDIDATES, now, Objective(Goal.VALUE, lam=5.0))
        two.advance(CTX, CANDIDATES, now)
    assert one.probabilities(CTX, CANDIDATES, NOW + 60_000) == two.probabilities(
        CTX, CANDIDATES, NOW + 60_000
    )


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_takes_an_objective(name: str) -> None:
    """Policies without an objective of their own ignore it; the others value by it."""
    policy = make_policy(name)
    p = policy.probabilities(CTX, CANDIDATES, NOW, Objective(Goal.VALUE, lam=5.0))
    assert sum(p.values()) == pytest.approx(1.0)
