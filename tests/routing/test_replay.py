"""The replay plan of a start-up read: what is applied at once, then each interval's entries
in time order, a look after each while entries remain (a pure function of the times)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from convroute.routing.replay import replay_steps


@dataclass(frozen=True)
class D:
    message_id: str
    sent_ms: int


@dataclass(frozen=True)
class Ev:
    message_id: str
    event_ms: int


def test_the_plan_splits_at_the_recent_part_and_steps_through_it() -> None:
    decisions = [D("old", 0), D("a", 9_000), D("b", 12_000), D("c", 25_000)]
    outcomes = [Ev("old", 1_000), Ev("old", 20_000), Ev("a", 11_000)]
    steps = replay_steps(decisions, outcomes, [], recent_ms=20_000, step_ms=10_000)
    first, *rest = steps
    assert [d.message_id for d in first.decisions] == ["old"]
    assert first.conversions == [Ev("old", 1_000)]  # the old decision's outcome from before
    assert first.look_ms is None
    # begin = 5,000: steps end at 15,000, 25,000
    assert [[d.message_id for d in s.decisions] for s in rest] == [["a", "b"], ["c"]]
    assert [s.conversions for s in rest] == [[Ev("a", 11_000)], [Ev("old", 20_000)]]
    assert [s.look_ms for s in rest] == [15_000, None]  # no look after the last


def test_without_decisions_everything_at_once() -> None:
    (step,) = replay_steps([], [Ev("x", 5)], [Ev("y", 6)], recent_ms=10, step_ms=1)
    assert step.conversions == [Ev("x", 5)]
    assert step.dlrs == [Ev("y", 6)]
    assert step.look_ms is None


@given(
    sent=st.lists(st.integers(0, 10_000_000), min_size=1, max_size=40),
    events=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 10_000_000)), max_size=40),
    recent=st.integers(1, 5_000_000),
    step=st.integers(1_000, 600_000),
)
def test_every_entry_is_applied_once_and_later_steps_in_time_order(
    sent: list[int], events: list[tuple[int, int]], recent: int, step: int
) -> None:
    decisions = [D(f"m{i}", t) for i, t in enumerate(sent)]
    outcomes = [Ev(f"m{i % len(sent)}", t) for i, t in events]
    steps = replay_steps(decisions, outcomes, outcomes[:3], recent, step)
    assert sorted(d.message_id for s in steps for d in s.decisions) == sorted(
        d.message_id for d in decisions
    )
    assert sorted((o.message_id, o.event_ms) for s in steps for o in s.conversions) == sorted(
        (o.message_id, o.event_ms) for o in outcomes
    )
    # the part before the looks: chunks (each but the last saying when it ends) in time order
    k = next(i for i, s in enumerate(steps) if s.until_ms is None) + 1
    chunks, recent_steps = steps[:k], steps[k:]
    begin = max(max(sent) - recent, min(sent) - step)
    assert all(d.sent_ms < begin for s in chunks for d in s.decisions)
    assert all(s.look_ms is None for s in chunks)
    ends = [s.until_ms for s in chunks[:-1]]
    assert ends == sorted(ends)
    for s in chunks[:-1]:
        assert s.until_ms is not None
        assert all(d.sent_ms < s.until_ms for d in s.decisions)
    # an outcome never comes before its decision's step
    where = {d.message_id: i for i, s in enumerate(steps) for d in s.decisions}
    for i, s in enumerate(steps):
        assert all(where[o.message_id] <= i for o in s.conversions)
    times = [d.sent_ms for s in recent_steps for d in s.decisions]
    assert times == sorted(times)
    looks = [s.look_ms for s in recent_steps if s.look_ms is not None]
    assert looks == sorted(looks)


def test_the_part_before_comes_a_chunk_at_a_time() -> None:
    hour = 3_600_000
    decisions = [D(f"m{i}", i * 600_000) for i in range(12)]  # every 10 minutes, 2 hours
    outcomes = [Ev("m0", 5 * 600_000), Ev("m5", 5 * 600_000 + 1)]
    steps = replay_steps(decisions, outcomes, [], recent_ms=10, step_ms=1_000, chunk_ms=hour)
    first, second, *_ = steps
    assert [d.message_id for d in first.decisions] == [f"m{i}" for i in range(6)]
    assert first.until_ms == hour
    assert first.conversions == outcomes  # both came within the first hour
    assert [d.message_id for d in second.decisions] == [f"m{i}" for i in range(6, 11)]
    assert second.until_ms is None  # the last chunk: the looks move time on from there
