"""Offline evaluation where the truth is known: a simulated run of one policy is logged (the
simulator keeps the log the service keeps, with every candidate's probability), other
policies are evaluated on it, and their estimates are compared with what running them on
the same scenario and seed achieved. (The calibration over many seeds is a benchmark:
``python -m benchmarks.offpolicy``, docs/benchmarks.md.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from convroute.evaluation.replay import replay
from convroute.routing.base import LedgerPolicy
from convroute.sim.logged import Logged
from convroute.sim.run import _Clock, make, simulate
from convroute.sim.scenario import Scenario, load

SCENARIO = Path(__file__).parents[2] / "scenarios" / "s2-outage.toml"


def _ledger_policy(scenario: Scenario, name: str) -> LedgerPolicy:
    """The policy as the simulator builds it (its delay prior, learned delay, objective)."""
    policy = make(scenario, name, _Clock())
    assert isinstance(policy, LedgerPolicy)
    return policy


@pytest.fixture(scope="module")
def logged_run() -> tuple[Logged, float]:
    scenario = load(SCENARIO)
    logged = Logged(_ledger_policy(scenario, "epsilon-greedy"))
    result = simulate(scenario, logged, seed=3)
    plain = simulate(scenario, "epsilon-greedy", seed=3)
    assert result.expected_value == plain.expected_value  # logging changes nothing
    return logged, result.expected_value / result.messages


def test_the_log_evaluates_the_logging_policy_exactly(logged_run: tuple[Logged, float]) -> None:
    logged, _ = logged_run
    scenario = load(SCENARIO)
    steps = logged.steps()
    assert len(steps) > 19_000  # (those still open at the end are left out)
    policy = _ledger_policy(scenario, "epsilon-greedy")
    ev = replay(policy, steps, logged.outcomes, scenario.objective)
    assert ev.effective_sample_size == pytest.approx(len(steps))
    assert ev.ips.value == pytest.approx(ev.logged)


@pytest.mark.parametrize("candidate", ["static", "dlr-only", "convroute"])
def test_other_policies_are_estimated_within_their_intervals(
    logged_run: tuple[Logged, float], candidate: str
) -> None:
    logged, _ = logged_run
    scenario = load(SCENARIO)
    truth = simulate(scenario, candidate, seed=3)
    true_value = truth.expected_value / truth.messages
    ev = replay(_ledger_policy(scenario, candidate), logged.steps(), logged.outcomes)
    assert ev.dr.low <= true_value <= ev.dr.high, (candidate, true_value, ev.dr)
    assert abs(ev.dr.value - true_value) < 0.05
    assert ev.dr.std_error <= ev.ips.std_error


def test_an_adaptive_candidate_replayed_coupled_learns_what_its_own_choices_teach() -> None:
    """Logged by convroute (its 1 % floor), seed 0: ε-greedy replayed on the log keeps route A
    through A's outage (the log left A, so ε-greedy never sees it fail) and is estimated far
    below its own run; coupled, it draws choices of its own, sees A fail and is estimated
    close to its run, while the logging policy itself is still estimated exactly."""
    scenario = load(SCENARIO)
    logged = Logged(_ledger_policy(scenario, "convroute"))
    simulate(scenario, logged, seed=0)
    steps = logged.steps()
    truth = simulate(scenario, "epsilon-greedy", seed=0)
    true_value = truth.expected_value / truth.messages
    candidate = "epsilon-greedy"
    plain = replay(_ledger_policy(scenario, candidate), steps, logged.outcomes, coupled=None)
    coupled = replay(_ledger_policy(scenario, candidate), steps, logged.outcomes, coupled=0)
    assert plain.dr.value < true_value - 0.05
    assert abs(coupled.dr.value - true_value) < 0.03
    assert coupled.dr.low <= true_value <= coupled.dr.high
    itself = replay(_ledger_policy(scenario, "convroute"), steps, logged.outcomes, coupled=0)
    assert itself.ips.value == pytest.approx(itself.logged, abs=0.002)
