"""What a driven run reports of itself (``convroute simulate --against``)."""

from __future__ import annotations

from convroute.cli.against import Drive


def test_the_reports_lateness_is_read_at_its_quantiles() -> None:
    run = Drive(messages=4, conversions=3, routes=["A", "A", "B", ""], seconds=2.0)
    assert run.lateness() == 0.0  # no report yet
    run.report_lateness = [float(k) for k in range(100, 0, -1)]  # 1..100 s, in any order
    assert run.lateness(0.5) == 51.0
    assert run.lateness(0.99) == 100.0
    assert run.lateness(1.0) == 100.0
    assert run.lateness(0.0) == 1.0
    line = run.summary()
    assert "routes A 2, B 1;" in line
    assert "75.0% converted" in line
    assert "51.0 s (median), 100.0 s (p99), 100.0 s (max)" in line
