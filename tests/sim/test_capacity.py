"""A capped route: messages past its throughput queue, and a code that waits longer than its
expiry is worth nothing. The oracle routes with the queues in view and the regret counts them,
so sending everything to the capped best route is no longer scored as perfect."""

from __future__ import annotations

import pytest

from convroute.sim.run import simulate
from convroute.sim.scenario import parse
from convroute.sim.truth import true_rate

CAPPED = {
    "name": "capped",
    "messages": 4000,
    "interval_s": 1.0,
    "users": {"otp_expiry_s": 300},
    "routes": [
        {"name": "A", "price": 0.03, "deliver": 0.97, "throughput": 0.5},  # half the traffic
        {"name": "B", "price": 0.03, "deliver": 0.85},
    ],
}


def test_a_queued_message_is_worth_what_arrives_in_time() -> None:
    s = parse(CAPPED)
    a = s.routes[0]
    assert true_rate(s, a, "GB", 0.0, queued_s=100) == true_rate(s, a, "GB", 0.0)
    assert true_rate(s, a, "GB", 0.0, queued_s=300 - a.latency_s) > 0  # just in time
    assert true_rate(s, a, "GB", 0.0, queued_s=301 - a.latency_s) == 0.0


def test_the_capped_best_route_alone_is_scored_with_its_queue() -> None:
    s = parse(CAPPED)
    oracle = simulate(s, "oracle", seed=2)
    static = simulate(s, "static", seed=2)  # everything to A, the best route without a queue
    # A's queue grows by half a second a message: past message 600 its codes expire waiting
    assert static.conversions < 0.5 * oracle.conversions
    assert static.regret > 0.4 * oracle.expected_value  # no longer 0
    assert oracle.regret == pytest.approx(0.0, abs=1e-6)
    # the oracle keeps A's queue short and sends the rest to B
    assert oracle.conversions > 0.85 * 0.9 * s.messages
    ours = simulate(s, "convroute", seed=2)
    assert ours.conversions > static.conversions


def test_a_queue_filling_is_not_a_change_of_the_best_route() -> None:
    """The capacity-aware oracle alternates between A and B as A's queue fills and drains;
    the routes themselves never change, so there is no change to react to (the reaction
    column counted each alternation as one, thousands a run, every one 'never')."""
    s = parse(CAPPED)
    for policy in ("oracle", "convroute"):
        assert simulate(s, policy, seed=2).reactions == []
    fails = {**CAPPED["routes"][0], "deliver": [[0, 0.97], [2000, 0.1]]}  # type: ignore[dict-item]
    changing = parse({**CAPPED, "routes": [fails, CAPPED["routes"][1]]})
    assert len(simulate(changing, "oracle", seed=2).reactions) == 1  # A fails: B is best
