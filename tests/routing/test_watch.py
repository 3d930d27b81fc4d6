"""The anomaly watch: one route's drop is raised and cleared, and told apart from pumping;
a route without receipts, and one whose receipts lie, are raised; steady traffic raises
nothing; a route that stops being a candidate has its episodes ended."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from convroute.routing.anomalies import (
    CONVERSION_DROP,
    NO_RECEIPTS,
    PUMPING,
    RECEIPTS_DIVERGE,
    Anomaly,
)
from convroute.routing.convroute_policy import ConvroutePolicy
from convroute.routing.watch import AnomalyWatch
from tests.routing.test_anomalies import GB, RATES, drive, pumping

EVEN = {"A": 0.4, "B": 0.4, "C": 0.2}


def kinds(watch: AnomalyWatch) -> list[tuple[str, str | None]]:
    return [(a.kind, a.route_id) for a in watch.episodes()]


def _outage(route: str, t: float) -> float:
    return 0.0 if route == "A" and 3000 <= t < 4000 else RATES[route]


def test_one_route_s_outage_is_its_drop_raised_then_cleared() -> None:
    for seed in (1, 2, 3):
        watch = AnomalyWatch()
        drive(watch, _outage, 7000, seed=seed)
        assert kinds(watch) == [(CONVERSION_DROP, "A")], seed
        (drop,) = watch.episodes()
        assert 3000_000 < drop.started_ms <= 3300_000
        assert drop.cleared_ms is not None
        assert 4000_000 < drop.cleared_ms <= 4600_000
        assert drop.severity > 0.9
        assert drop.evidence["rate_before"] > 0.8 > 0.1 > drop.evidence["rate_after"]


def test_a_degraded_route_with_its_share_of_traffic_is_raised() -> None:
    watch = AnomalyWatch()
    drive(watch, lambda r, t: 0.4 if r == "B" and t >= 2000 else RATES[r], 4000, shares=EVEN)
    (drop,) = watch.episodes()
    assert (drop.kind, drop.route_id, drop.active) == (CONVERSION_DROP, "B", True)
    assert 0.3 < drop.severity < 0.7


def test_a_drop_the_others_seem_to_share_on_a_few_messages_is_raised_once_they_do_not() -> None:
    """A carries nine messages in ten and fails for good; B's first few messages after the
    point happen not to convert either (a chance dip of a few conversions' evidence). The
    drop is A's: it is raised once B's traffic since the point shows B converts as before
    (the history is tested again instead of being passed over for good)."""

    def rate(route: str, t: float) -> float:
        if (route == "A" and t >= 3000) or (route == "B" and 3000 <= t < 3030):
            return 0.0
        return RATES[route]

    for seed in (1, 3, 4, 5, 6):  # (seeds on which B's dip is not also read as pumping)
        watch = AnomalyWatch()
        drive(watch, rate, 4500, shares={"A": 0.9, "B": 0.1}, seed=seed)
        assert kinds(watch) == [(CONVERSION_DROP, "A")], seed


def test_a_dip_every_route_shares_is_pumping_not_a_drop() -> None:
    for seed in (1, 2, 3):
        watch = AnomalyWatch()
        drive(watch, pumping(3000, 4000), 6000, seed=seed)
        assert kinds(watch) == [(PUMPING, None)], seed


def test_steady_traffic_raises_nothing_at_any_rate() -> None:
    for level in (0.85, 0.3, 0.1):
        for seed in (1, 2):
            watch = AnomalyWatch()
            drive(watch, lambda r, t, p=level: p, 8000, seed=seed, shares=EVEN)
            assert watch.episodes() == [], (level, seed)


def test_a_route_without_receipts_is_raised_until_they_come_back() -> None:
    watch = AnomalyWatch()
    drive(watch, lambda r, t: RATES[r], 5000, shares=EVEN, quiet=lambda r, t: r == "C" and t < 3000)
    (silent,) = watch.episodes()
    assert (silent.kind, silent.route_id) == (NO_RECEIPTS, "C")
    assert silent.started_ms <= 600_000  # as soon as it has sent enough
    assert silent.evidence["receipt_share"] == 0.0
    assert silent.cleared_ms is not None
    assert 3000_000 < silent.cleared_ms <= 3600_000


def test_a_route_whose_receipts_lie_is_raised() -> None:
    watch = AnomalyWatch()
    # B converts 8 % from the start with every receipt "delivered": no drop, a lie
    drive(watch, lambda r, t: 0.08 if r == "B" else RATES[r], 6000, shares=EVEN)
    (lie,) = watch.episodes()
    assert (lie.kind, lie.route_id, lie.active) == (RECEIPTS_DIVERGE, "B", True)
    assert lie.evidence["other_routes_if_delivered"] > 0.75
    assert lie.evidence["converts_if_delivered"] < 0.5 * lie.evidence["other_routes_if_delivered"]


def test_a_route_no_longer_a_candidate_has_its_episodes_ended() -> None:
    watch = AnomalyWatch()
    drive(watch, lambda r, t: RATES[r], 1000, shares=EVEN, quiet=lambda r, t: r == "C")
    (silent,) = watch.episodes()
    assert silent.active
    watch.check(GB, ["A", "B"], 1_010_000)  # C disabled, or no longer serving GB
    assert silent.cleared_ms == 1_010_000


def test_tick_checks_a_destination_at_most_every_interval() -> None:
    watch = AnomalyWatch()
    drive(watch, lambda r, t: RATES[r], 1000, shares=EVEN, quiet=lambda r, t: r == "C")
    watch.check(GB, ["A", "B"], 1_000_000)  # ends C's episode
    watch.tick(GB, ["A", "B", "C"], 1_001_000)  # checks: C's is raised again
    assert [a.active for a in watch.episodes()] == [False, True]
    watch.tick(GB, ["A", "B"], 1_005_000)  # too soon: nothing looked at
    assert [a.active for a in watch.episodes()] == [False, True]
    watch.tick(GB, ["A", "B"], 1_011_000)
    assert [a.active for a in watch.episodes()] == [False, False]


def test_beside_the_default_policy_it_reads_the_policy_s_ledger_and_pumping_watch() -> None:
    policy = ConvroutePolicy()
    assert policy.watch is not None
    watch = AnomalyWatch(pumping=policy.watch)
    assert watch.ledger is policy.ledger
    watch.record("m0", GB, "A", 0)  # the policy records: the watch adds nothing
    assert "m0" not in policy.ledger.records
    raised = Anomaly(PUMPING, GB, 5)
    policy.watch.anomalies.append(raised)
    assert watch.episodes() == [raised]
    assert watch.counts()[PUMPING] == (1, 1)
    assert watch.counts()[CONVERSION_DROP] == (0, 0)


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("ABC"), st.floats(0.0, 1.0)), min_size=1, max_size=4),
    st.sampled_from(["delivered", "honest", "none"]),
    st.integers(0, 3),
    st.integers(1, 10_000),
)
def test_episodes_are_well_formed_whatever_the_traffic(
    changes: list[tuple[str, float]], receipts: str, quiet: int, seed: int
) -> None:
    """Rates that jump anywhere, any receipts, a route silent or not: every episode ends
    after it starts, at most one of a kind is open per route, and the counts agree."""
    steps = {route: (1000 * (i + 1), rate) for i, (route, rate) in enumerate(changes)}

    def rate(route: str, t: float) -> float:
        at, to = steps.get(route, (10**9, 0.0))
        return to if t >= at else RATES[route]

    watch = AnomalyWatch()
    silent = "ABC"[quiet] if quiet < 3 else None
    drive(
        watch, rate, 2500, receipts=receipts, shares=EVEN, seed=seed, quiet=lambda r, t: r == silent
    )
    episodes = watch.episodes()
    open_ = [(a.kind, a.route_id) for a in episodes if a.active]
    assert len(open_) == len(set(open_))
    for a in episodes:
        assert a.cleared_ms is None or a.cleared_ms >= a.started_ms
        assert 0.0 <= a.severity <= 1.0
        assert (a.route_id is None) == (a.kind == PUMPING)
    counts = watch.counts()
    assert sum(n for n, _ in counts.values()) == len(episodes)
    assert sum(n for _, n in counts.values()) == len(open_)


def test_old_ended_episodes_are_let_go_and_still_counted() -> None:
    watch = AnomalyWatch(keep_s=100.0)
    drive(watch, lambda r, t: RATES[r], 1000, shares=EVEN, quiet=lambda r, t: r == "C")
    (first,) = watch.episodes()
    watch.check(GB, ["A", "B"], 1_000_000)  # C no longer a candidate: ended
    watch.check(GB, ["A", "B", "C"], 1_050_000)  # back, still silent: raised again
    assert watch.episodes() == [first, watch.anomalies[-1]]  # the first ended 50 s ago: kept
    watch.check(GB, ["A", "B"], 1_060_000)
    watch.check(GB, ["A", "B", "C"], 1_200_000)  # the next raise lets the ended ones go
    assert [a.active for a in watch.episodes()] == [True]
    assert watch.counts()[NO_RECEIPTS] == (3, 1)
