"""The off-policy estimators on cases whose answer is known."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convroute.evaluation.estimators import Step, evaluate


def _step(chosen: int, p: tuple[float, ...], reward: float, target: tuple[float, ...],
          predicted: tuple[float, ...] = (0.0, 0.0), logged: bool = True) -> Step:  # fmt: skip
    return Step(("a", "b"), chosen, p[chosen], reward, target, predicted, p if logged else None)


@settings(max_examples=50, deadline=None)
@given(
    rewards=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=2, max_size=60),
    p=st.floats(0.05, 0.95),
)
def test_the_logging_policy_evaluated_on_its_own_log_is_what_it_got(
    rewards: list[tuple[int, int]], p: float
) -> None:
    """Weights are all 1: IPS and SNIPS are the logged mean exactly, the effective sample
    size is the number of decisions, and DR is the logged mean whatever the model says."""
    steps = [
        _step(chosen, (p, 1 - p), float(r), (p, 1 - p), predicted=(0.3, 0.7))
        for chosen, r in rewards
    ]
    ev = evaluate(steps)
    mean = sum(r for _, r in rewards) / len(rewards)
    assert ev.ips.value == pytest.approx(mean)
    assert ev.snips.value == pytest.approx(mean)
    assert ev.effective_sample_size == pytest.approx(len(rewards))
    assert ev.logged == pytest.approx(mean)
    assert ev.dr.value == pytest.approx(mean + sum(
        p * 0.3 + (1 - p) * 0.7 - (0.3 if c == 0 else 0.7) for c, _ in rewards
    ) / len(rewards))  # fmt: skip


def test_ips_recovers_another_policy_from_a_uniform_log() -> None:
    """A uniform logging policy over two routes converting 0.9 and 0.5: the policy that
    always takes the first is worth 0.9, and every estimator's interval says so."""
    rng = random.Random(7)
    steps = []
    for _ in range(20_000):
        chosen = rng.randrange(2)
        reward = float(rng.random() < (0.9, 0.5)[chosen])
        steps.append(_step(chosen, (0.5, 0.5), reward, (1.0, 0.0), predicted=(0.88, 0.52)))
    ev = evaluate(steps)
    for e in (ev.ips, ev.snips, ev.dr):
        assert e.low < 0.9 < e.high
    assert ev.dr.std_error < ev.ips.std_error  # a good model: less variance
    assert ev.effective_sample_size == pytest.approx(10_000, rel=0.05)
    assert ev.warnings == ()


def test_the_part_of_a_candidate_the_log_cannot_see_is_said() -> None:
    """The logging policy never tried route b; a candidate that would has no support there."""
    steps = [_step(0, (1.0, 0.0), 1.0, (0.5, 0.5)) for _ in range(200)]
    ev = evaluate(steps)
    assert ev.unsupported_decisions == pytest.approx(1.0)
    assert ev.unsupported_mass == pytest.approx(0.5)
    assert any("never tried" in w for w in ev.warnings)


def test_a_candidate_far_from_the_log_is_warned_about() -> None:
    steps = [_step(1, (0.99, 0.01), 0.0, (0.0, 1.0)) for _ in range(50)]
    steps += [_step(0, (0.99, 0.01), 1.0, (0.0, 1.0)) for _ in range(4950)]
    ev = evaluate(steps)
    assert ev.effective_sample_size < 500
    assert ev.max_weight == pytest.approx(100.0)
    assert ev.min_propensity == pytest.approx(0.01)
    assert any("effective sample size" in w for w in ev.warnings)


def test_nothing_to_evaluate_and_bad_propensities_are_refused() -> None:
    with pytest.raises(ValueError, match="no logged decision"):
        evaluate([])
    with pytest.raises(ValueError, match="propensity"):
        evaluate([_step(0, (0.0, 1.0), 1.0, (1.0, 0.0))])


def test_intervals_hold_the_truth_when_the_log_rarely_took_the_candidates_route() -> None:
    """A 1 % floor: the log takes route b (converting 0.9) once in a hundred decisions, and
    the candidate always would. In 200 decisions about 2 carry a weight of 100, so the
    sample rarely shows the weights' tail: the normal interval (mean ± 1.96 standard errors)
    misses the truth often; with Bernstein's range term the intervals hold it at least at
    their stated rate, and narrow as the decisions outnumber the largest weight."""
    rng = random.Random(11)
    held = {"ips": 0, "snips": 0, "dr": 0}
    normal_held = 0
    widths = []
    runs = 300
    for _ in range(runs):
        steps = []
        for _ in range(200):
            chosen = 1 if rng.random() < 0.01 else 0
            reward = float(rng.random() < (0.5, 0.9)[chosen])
            steps.append(_step(chosen, (0.99, 0.01), reward, (0.0, 1.0), predicted=(0.5, 0.5)))
        ev = evaluate(steps)
        for name in held:
            e = getattr(ev, name)
            held[name] += e.low <= 0.9 <= e.high
        normal_held += abs(ev.ips.value - 0.9) <= 1.959964 * ev.ips.std_error
        widths.append(ev.ips.high - ev.ips.low)
    assert normal_held / runs < 0.93  # (what the normal interval alone would have said)
    for name, count in held.items():
        assert count / runs >= 0.95, name
    many = [_step(0, (0.99, 0.01), 0.5, (0.0, 1.0)) for _ in range(50_000)]
    many += [_step(1, (0.99, 0.01), 0.9, (0.0, 1.0)) for _ in range(500)]
    ev = evaluate(many)
    assert ev.ips.high - ev.ips.low < 0.35 * sum(widths) / runs
