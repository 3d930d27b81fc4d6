"""Token buckets keep a route to its cap over any window, whatever the arrival times."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from convroute.domain.capacity import Capacity, TokenBucket
from convroute.domain.models import Route


def route(mps: float | None) -> Route:
    return Route("r1", "r1", True, "simulated", (), config={} if mps is None else {"mps": mps})


@given(
    mps=st.floats(min_value=0.5, max_value=500),
    gaps=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=300),
)
def test_admissions_never_pass_the_cap_over_any_window(mps: float, gaps: list[int]) -> None:
    capacity = Capacity()
    r = route(mps)
    now, admitted = 0, []
    for gap in gaps:
        now += gap
        if capacity.has_room(r, now):
            assert capacity.take(r, now) == 0
            admitted.append(now)
    burst = max(1.0, mps)
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            window = admitted[j] - start
            assert j - i + 1 <= burst + mps * window / 1000 + 1e-6


@given(mps=st.floats(min_value=0.5, max_value=200), n=st.integers(min_value=1, max_value=400))
def test_taking_ahead_spaces_the_submits_at_the_rate(mps: float, n: int) -> None:
    """At one instant, n takes are due at the rate once the burst is spent."""
    bucket = TokenBucket(mps, max(1.0, mps), 0)
    waits = [bucket.take(0) for _ in range(n)]
    assert waits == sorted(waits)
    burst = int(max(1.0, mps))
    assert all(w == 0 for w in waits[:burst])
    for k, wait in enumerate(waits[burst:], start=1):
        assert abs(wait - k * 1000 / mps) <= 1 + 1e-6 * wait + (max(1.0, mps) - burst) * 1000 / mps


def test_a_route_without_a_cap_always_has_room() -> None:
    capacity = Capacity()
    r = route(None)
    assert all(capacity.has_room(r, 0) and capacity.take(r, 0) == 0 for _ in range(10_000))


def test_a_changed_cap_takes_effect() -> None:
    capacity = Capacity()
    assert [capacity.take(route(1), 0) for _ in range(2)] == [0, 1000]
    assert capacity.take(route(10), 0) == 0  # a new bucket at the new rate
