"""The pumping watch: a dip shared by every route while receipts still say delivered is
raised, then cleared; a dip of one route, an outage the receipts admit, a dip nobody's
receipts vouch for, or a single route's traffic are not pumping."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable

from convroute.routing.anomalies import PUMPING, diverging_receipts
from convroute.routing.estimates import Estimate
from convroute.routing.policy import Context, Outcome, OutcomeKind
from convroute.routing.pumping import PumpingWatch

GB = Context("GB", None, "otp")
RATES = {"A": 0.88, "B": 0.84, "C": 0.80}
SHARES = {"A": 0.9, "B": 0.05, "C": 0.05}  # one route carries, the others are explored
WINDOW_S = 300


def pumping(start: float, end: float, share: float = 0.4) -> Callable[[str, float], float]:
    """Every route's conversions times (1 - share) between start and end."""
    return lambda route, t: RATES[route] * (1 - share if start <= t < end else 1.0)


def drive(
    watch: PumpingWatch,
    rate: Callable[[str, float], float],
    seconds: int,
    *,
    receipts: str = "delivered",  # "delivered": every message's; "honest"; "none"
    shares: dict[str, float] = SHARES,
    seed: int = 1,
    quiet: Callable[[str, int], bool] = lambda route, t: False,  # no receipt for these
) -> None:
    """One message a second, routed by ``shares``; a message converts with ``rate`` after a
    log-normal delay (median 20 s), else its window closes at 300 s; receipts 5 s later;
    the watch checks every 10 s."""
    rng = random.Random(seed)
    due: list[tuple[int, int, Outcome]] = []
    routes, weights = list(shares), list(shares.values())
    for t in range(seconds):
        now = t * 1000
        while due and due[0][0] <= now:
            watch.observe(heapq.heappop(due)[2])
        route = rng.choices(routes, weights)[0]
        decision = f"m{t}"
        watch.record(decision, GB, route, now)
        p = rate(route, t)
        delay = math.exp(math.log(20) + rng.gauss(0, 1))
        if rng.random() < p and delay <= WINDOW_S:
            at = now + int(delay * 1000)
            heapq.heappush(due, (at, t, Outcome(decision, OutcomeKind.CONVERTED, at)))
        else:
            at = now + WINDOW_S * 1000
            heapq.heappush(due, (at, t, Outcome(decision, OutcomeKind.NOT_CONVERTED, at)))
        if receipts != "none" and not quiet(route, t):
            # "honest": a message whose conversion chance fell says failed in proportion
            delivered = receipts == "delivered" or rng.random() < p / RATES[route]
            kind = OutcomeKind.DLR_DELIVERED if delivered else OutcomeKind.DLR_FAILED
            heapq.heappush(due, (now + 5000, t, Outcome(decision, kind, now + 5000)))
        if t % 10 == 0:
            watch.check(GB, routes, now)


def test_a_dip_every_route_shares_with_receipts_still_delivered_is_pumping() -> None:
    for seed in (1, 2, 3):
        watch = PumpingWatch()
        drive(watch, pumping(6000, 9000), 11_000, seed=seed)
        assert len(watch.anomalies) == 1, (seed, watch.anomalies)
        episode = watch.anomalies[0]
        assert episode.kind == PUMPING
        assert episode.context == GB
        # raised within ten minutes of the start, cleared within twenty of the end
        assert 6_000_000 <= episode.started_ms <= 6_600_000, seed
        assert episode.cleared_ms is not None
        assert 9_000_000 < episode.cleared_ms <= 10_200_000, seed
        assert 0.2 <= episode.severity <= 0.6
        assert episode.evidence["z_other_routes"] <= -2.5
        assert watch.active(GB) is None


def test_the_episode_is_active_while_it_lasts() -> None:
    watch = PumpingWatch()
    drive(watch, pumping(6000, 20_000), 8000)
    episode = watch.active(GB)
    assert episode is not None
    assert episode.active
    assert episode.cleared_ms is None


def test_a_dip_of_one_route_is_not_pumping() -> None:
    # a grey route: the busiest one falls to a third, its receipts still say delivered
    def grey(route: str, t: float) -> float:
        return RATES[route] * (0.35 if route == "A" and t >= 6000 else 1.0)

    for seed in (1, 2):
        watch = PumpingWatch()
        drive(watch, grey, 9000, seed=seed)
        assert watch.anomalies == []
    # nor when traffic is spread evenly (the dip is then not the busiest route's)
    watch = PumpingWatch()
    drive(watch, grey, 9000, shares={"A": 1 / 3, "B": 1 / 3, "C": 1 / 3})
    assert watch.anomalies == []


def test_a_route_failing_alone_while_noise_lowers_the_others_is_not_pumping() -> None:
    # even traffic, route A grey from 6000 s for hours: the others' recent rates dip by
    # chance now and then (seed 8: z = -2.5 just after the change), but nowhere near as
    # deep as A's, so the dip is not shared evenly
    def grey(route: str, t: float) -> float:
        return RATES[route] * (0.35 if route == "A" and t >= 6000 else 1.0)

    for seed in (7, 8, 9):
        watch = PumpingWatch()
        drive(watch, grey, 30_000, seed=seed, shares={"A": 1 / 3, "B": 1 / 3, "C": 1 / 3})
        assert watch.anomalies == [], seed


def test_an_episode_clears_when_only_one_route_s_own_dip_remains() -> None:
    # pumping from 6000 s to 9000 s; route A goes grey at 9000 s and stays so
    def pumped_then_grey(route: str, t: float) -> float:
        if route == "A" and t >= 9000:
            return RATES[route] * 0.35
        return pumping(6000, 9000)(route, t)

    watch = PumpingWatch()
    drive(watch, pumped_then_grey, 14_000, shares={"A": 1 / 3, "B": 1 / 3, "C": 1 / 3})
    (episode,) = watch.anomalies
    assert 6_000_000 <= episode.started_ms <= 6_600_000
    assert episode.cleared_ms is not None
    assert 9_000_000 < episode.cleared_ms <= 10_800_000
    assert watch.active(GB) is None


def test_an_outage_the_receipts_admit_is_not_pumping() -> None:
    watch = PumpingWatch()
    drive(watch, pumping(6000, 9000), 9000, receipts="honest")
    assert watch.anomalies == []


def test_a_dip_no_receipt_vouches_for_is_not_claimed() -> None:
    watch = PumpingWatch()
    drive(watch, pumping(6000, 9000), 9000, receipts="none")
    assert watch.anomalies == []


def test_traffic_on_one_route_alone_cannot_show_a_shared_dip() -> None:
    watch = PumpingWatch()
    drive(watch, pumping(6000, 9000), 9000, shares={"A": 1.0})
    assert watch.anomalies == []
    assert watch.check(GB, ["A", "B", "C"], 9_000_000) is None


def test_steady_traffic_raises_nothing() -> None:
    for seed in (1, 2, 3):
        watch = PumpingWatch()
        drive(watch, pumping(0, 0), 12_000, seed=seed)
        assert watch.anomalies == []


def _est(if_delivered: float | None, receipts: float, delivered: float) -> Estimate:
    calibration = None if if_delivered is None else (if_delivered, 0.05, receipts * delivered, 0.0)
    return Estimate(0.5, receipts, delivered, receipts, receipts, calibration)


def test_receipts_that_vouch_for_messages_nobody_converts_on_diverge() -> None:
    ids = ["A", "B", "C", "D"]
    estimates = [
        _est(0.92, 500, 0.95),  # honest
        _est(0.10, 200, 0.97),  # says delivered, its users do not convert
        _est(0.90, 60, 0.90),  # honest, little traffic
        _est(0.91, 300, 0.30),  # honest and failing: its few delivered messages convert
    ]
    flagged = diverging_receipts(ids, estimates)
    assert set(flagged) == {"B"}
    mine, others = flagged["B"]
    assert mine == 0.10
    assert 0.9 < others < 0.92


def test_receipts_do_not_diverge_without_a_clear_gap_or_evidence() -> None:
    ids = ["A", "B"]
    assert diverging_receipts(ids, [_est(0.92, 500, 0.95), _est(0.60, 500, 0.95)]) == {}
    # not calibrated yet (too few settled delivered decisions)
    assert diverging_receipts(ids, [_est(0.92, 500, 0.95), _est(None, 20, 0.95)]) == {}
    # under half, but where few users convert anyway: within the noise of 40 messages...
    assert diverging_receipts(ids, [_est(0.20, 500, 0.95), _est(0.08, 40, 1.0)]) == {}
    # ... and not within that of 400
    assert set(diverging_receipts(ids, [_est(0.20, 500, 0.95), _est(0.08, 400, 1.0)])) == {"B"}
    # one route alone has nothing to be compared with
    assert diverging_receipts(["B"], [_est(0.10, 200, 0.97)]) == {}
