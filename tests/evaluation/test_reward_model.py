"""The doubly robust estimator's reward model: cross-fitted rates whose levels lean on the
wider ones as much as the log says they agree (empirical Bayes)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from convroute.evaluation.replay import STRENGTH, LoggedStep, RewardModel, _fold, _strength
from convroute.routing.policy import Candidate, Context

CONTEXT = Context("GB", "23410")
CANDIDATES = (Candidate("A", 0.02), Candidate("B", 0.03))


def test_the_strength_is_the_most_where_the_rates_agree_and_recovers_a_known_spread() -> None:
    assert _strength([(80.0, 100.0, 0.8)] * 8) == STRENGTH[1]
    assert _strength([(80.0, 100.0, 0.8)]) == STRENGTH[1]  # one cell: nothing to learn from
    rng = random.Random(7)
    for true_k in (4.0, 40.0):
        cells = []
        for _ in range(400):
            rate = rng.betavariate(0.7 * true_k, 0.3 * true_k)
            n = rng.randint(30, 80)
            cells.append((float(sum(rng.random() < rate for _ in range(n))), float(n), 0.7))
        assert true_k / 1.6 < _strength(cells) < true_k * 1.6


def _log(rates: list[float], per_bucket: list[int], seed: int = 1) -> list[LoggedStep]:
    """Route A at one destination, ten minutes a bucket, ``per_bucket[i]`` decisions
    converting at ``rates[i]``."""
    rng = random.Random(seed)
    steps = []
    for b, (rate, n) in enumerate(zip(rates, per_bucket, strict=True)):
        for i in range(n):
            steps.append(
                LoggedStep(
                    decision_id=f"d{b}-{i}",
                    context=CONTEXT,
                    candidates=CANDIDATES,
                    chosen="A",
                    propensity=0.5,
                    sent_ms=b * RewardModel.BUCKET_MS + i,
                    converted=rng.random() < rate,
                )
            )
    return steps


def test_an_outage_seen_by_a_few_decisions_shows_in_the_predictions() -> None:
    """Ten minutes of an outage the log sent a dozen decisions into, among hours at 80 %:
    the prediction there follows the dozen, not the period's rate."""
    rates = [0.8] * 12
    rates[6] = rates[7] = 0.0
    per_bucket = [300] * 12
    per_bucket[6] = per_bucket[7] = 12
    model = RewardModel(_log(rates, per_bucket))
    during = model.rate("x", CONTEXT, "A", 6 * RewardModel.BUCKET_MS + 5)
    before = model.rate("x", CONTEXT, "A", 2 * RewardModel.BUCKET_MS + 5)
    assert during < 0.25  # (five pseudo-observations of the period's 0.77 gave 0.3-0.4)
    assert before == pytest.approx(0.8, abs=0.1)  # (its own 150 decisions a fold: sd 0.03)


def test_where_the_buckets_agree_their_noise_is_smoothed_away() -> None:
    """Steady at 60 %, a few decisions a bucket: each prediction is close to the route's
    rate, not to its bucket's noisy one."""
    steps = _log([0.6] * 30, [6] * 30, seed=3)
    model = RewardModel(steps)
    for b in range(30):
        assert model.rate("x", CONTEXT, "A", b * RewardModel.BUCKET_MS) == pytest.approx(
            0.6, abs=0.1
        )


def test_no_decision_predicts_its_own_reward() -> None:
    """Cross-fitted: a decision's prediction comes from the other fold only, so changing its
    own outcome changes nothing of it."""
    steps = _log([0.5] * 3, [40] * 3)
    first = steps[0]
    mine = _fold(first.decision_id)
    changed = [
        replace(s, converted=not s.converted) if _fold(s.decision_id) == mine else s for s in steps
    ]
    assert any(_fold(s.decision_id) != mine for s in steps)
    args = (first.decision_id, CONTEXT, "A", first.sent_ms)
    assert RewardModel(steps).rate(*args) == RewardModel(changed).rate(*args)
