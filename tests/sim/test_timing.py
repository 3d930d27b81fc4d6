"""When things happen on a simulated route: a latency with a tail (``latency_sigma``) and a
receipt whose clock starts at the submission (``dlr.after = "send"``: a grey route's
instant DELIVRD while the handset gets the code minutes later)."""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

import pytest

from convroute.sim.carrier import Draws, fate
from convroute.sim.report import describe
from convroute.sim.run import simulate
from convroute.sim.scenario import ScenarioError, parse
from convroute.sim.truth import true_rate

USERS = {"intent": 0.9, "delay_median_s": 20, "delay_sigma": 1.0, "otp_expiry_s": 300}


def _scenario(route: dict[str, Any]) -> Any:
    return parse({"name": "t", "messages": 10, "users": USERS, "routes": [route]})


def _draws(n: int, seed: int = 7) -> list[Draws]:
    rng = random.Random(seed)
    return [Draws.of(rng) for _ in range(n)]


def test_receipts_timed_from_the_submission_come_before_the_handset() -> None:
    s = _scenario({"name": "G", "deliver": 0.9, "latency_s": 240,
                   "dlr": {"mode": "fake", "delay_s": 1.0, "after": "send"}})  # fmt: skip
    route = s.routes[0]
    fates = [fate(s, route, "GB", 0.0, d) for d in _draws(2000)]
    assert all(f.receipt == "delivered" for f in fates)  # every one claimed
    assert max(f.receipt_after_s for f in fates) < 20  # seconds after the send...
    delivered = [f for f in fates if f.delivered]
    assert min(f.convert_after_s for f in delivered) >= 240  # ...the code lands minutes later


def test_receipts_timed_from_the_handset_by_default() -> None:
    s = _scenario({"name": "A", "deliver": 0.9, "latency_s": 240, "dlr": {"delay_s": 1.0}})
    fates = [fate(s, s.routes[0], "GB", 0.0, d) for d in _draws(500)]
    assert min(f.receipt_after_s for f in fates) >= 240


def test_a_latency_tail_around_its_median_and_its_share_too_late() -> None:
    s = _scenario({"name": "T", "deliver": 0.8, "latency_s": 60, "latency_sigma": 1.5,
                   "dlr": {"delay_s": 0.0}})  # fmt: skip
    route = s.routes[0]
    draws = _draws(20_000)
    fates = [fate(s, route, "GB", 0.0, d) for d in draws]
    arrivals = [f.receipt_after_s for f in fates]  # (receipts at arrival: delay 0)
    assert statistics.median(arrivals) == pytest.approx(60, rel=0.05)
    late = sum(a > 300 for a in arrivals) / len(arrivals)
    z = (math.log(300) - math.log(60)) / 1.5
    assert late == pytest.approx(1 - statistics.NormalDist().cdf(z), abs=0.01)
    # the latency is independent of delivery: the same share late among the delivered
    delivered = [f.receipt_after_s for f in fates if f.delivered]
    assert sum(a > 300 for a in delivered) / len(delivered) == pytest.approx(late, abs=0.015)
    # and the oracle's truth knows the share that arrives in time
    converted = sum(f.converts for f in fates) / len(fates)
    assert converted == pytest.approx(true_rate(s, route, "GB", 0.0), abs=0.012)


def test_a_latency_tail_takes_no_draw_of_its_own() -> None:
    fixed = _scenario({"name": "A", "deliver": 0.7, "latency_s": 5})
    tail = _scenario({"name": "A", "deliver": 0.7, "latency_s": 5, "latency_sigma": 0.8})
    for d in _draws(300):
        a, b = fate(fixed, fixed.routes[0], "GB", 0.0, d), fate(tail, tail.routes[0], "GB", 0.0, d)
        assert (a.submitted, a.delivered, a.receipt) == (b.submitted, b.delivered, b.receipt)


def test_timing_mistakes_are_refused() -> None:
    with pytest.raises(ScenarioError, match="after"):
        _scenario({"name": "A", "deliver": 0.9, "dlr": {"after": "handset"}})
    with pytest.raises(ScenarioError, match="latency_s"):
        _scenario({"name": "A", "deliver": 0.9, "latency_s": 0, "latency_sigma": 1})
    with pytest.raises(ScenarioError, match="latency_sigma"):
        _scenario({"name": "A", "deliver": 0.9, "latency_sigma": 9})


def test_a_user_who_tries_an_expired_code_is_reported_late_not_converted() -> None:
    s = _scenario({"name": "S", "deliver": 1.0, "latency_s": 400})  # after the 300 s expiry
    fates = [fate(s, s.routes[0], "GB", 0.0, d) for d in _draws(2000)]
    assert not any(f.converts or f.reported for f in fates)
    late = [f for f in fates if f.late]
    # every user with the intent whose delay fits the window tries it (report_share 1)
    assert len(late) / len(fates) == pytest.approx(0.9 * 0.998, abs=0.03)
    assert all(f.convert_after_s > 400 for f in late)


def test_a_run_reports_the_late_ones_when_they_act() -> None:
    s = parse({"name": "late", "messages": 3000, "users": USERS,
               "routes": [{"name": "A", "deliver": 0.9, "latency_s": 90, "latency_sigma": 1.2},
                          {"name": "B", "deliver": 0.8, "price": 0.1}]})  # fmt: skip
    result = simulate(s, "convroute", seed=3)
    assert result.late > 0  # A's tail past the expiry, while A was tried
    assert "received after expiration" in describe(result, simulate(s, "oracle", seed=3), 0.0)
    a = s.routes[0]
    in_time = true_rate(s, a, "GB", 0.0) / (0.9 * 0.9 * 0.998)  # the share arriving in time
    assert 0.8 < in_time < 0.95  # (P(latency <= 300) for a median 90 s, sigma 1.2: 0.84)
