"""What is true in a simulation: each route's conversion rate and value at a moment, which
the policies never see, and the dynamic oracle that always picks the best route by them."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

from convroute.routing.policy import Candidate, Context, Decision, Outcome
from convroute.sim.carrier import pumped_share
from convroute.sim.scenario import RouteSpec, Scenario, place_of

ORACLE = "oracle"


Queued = Callable[[str, float], float]
"""Seconds a message sent on a route (by name) at ``t`` waits for the route's throughput cap."""


class Oracle:
    """The dynamic oracle: at every message, the route with the best true value at that
    instant, counting the queue a message would wait in on a capped route (the run it routes
    sets ``queued``). The limit no policy can beat."""

    name = ORACLE

    def __init__(self, scenario: Scenario, clock: Callable[[], float]) -> None:
        self.scenario = scenario
        self._t = clock
        self._truth = Truth(scenario)
        self.queued: Queued | None = None

    def probabilities(
        self, context: Context, candidates: list[Candidate], now_ms: int
    ) -> dict[str, float]:
        place = place_of(context.country, context.network)
        t = self._t()
        truth = self._truth.at(place, t)
        if self.queued is not None:
            truth = with_queues(self.scenario, truth, place, t, self.queued)
        best = best_index(truth, candidates)
        return {c.route_id: 1.0 if i == best else 0.0 for i, c in enumerate(candidates)}

    def choose(
        self,
        decision_id: str,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        rng: random.Random,
    ) -> Decision:
        p = self.probabilities(context, candidates, now_ms)
        route = max(p, key=lambda r: p[r])
        return Decision(decision_id, route, 1.0, self.name)

    def observe(self, outcome: Outcome) -> None:
        """The oracle knows the truth already."""


def true_rate(
    scenario: Scenario, route: RouteSpec, country: str, t: float, queued_s: float = 0.0
) -> float:
    """The probability that a message sent on ``route`` at ``t`` converts, when it waits
    ``queued_s`` for the route's throughput cap first."""
    u = scenario.users
    if route.latency_sigma > 0:  # the share of messages that arrive before the code expires
        left = u.otp_expiry_s - queued_s
        in_time = _within_window(route.latency_s, route.latency_sigma, left) if left > 0 else 0.0
    elif route.latency_s + queued_s > u.otp_expiry_s:
        return 0.0
    else:
        in_time = 1.0
    reach = _within_window(u.delay_median_s, u.delay_sigma, u.window_s) * in_time
    return (
        (1.0 - route.submit_error)
        * route.p_deliver(country, t)
        * u.intent
        * (1.0 - pumped_share(scenario, t))
        * reach
    )


def with_queues(
    scenario: Scenario,
    truth: dict[str, tuple[float, float, float]],
    place: str,
    t: float,
    queued: Queued,
) -> dict[str, tuple[float, float, float]]:
    """``truth`` (route -> p_deliver, rate, value at ``t``) with each capped route's rate and
    value for a message that waits in its queue now; ``truth`` itself where no route is
    capped or none has a queue."""
    out = None
    for route in scenario.routes:
        if route.throughput <= 0 or route.name not in truth:
            continue
        wait = queued(route.name, t)
        if wait <= 0:
            continue
        out = dict(truth) if out is None else out
        rate = true_rate(scenario, route, place, t, wait)
        out[route.name] = (truth[route.name][0], rate, scenario.objective.value(rate, route.price))
    return truth if out is None else out


def expected_value(scenario: Scenario, route: RouteSpec, country: str, t: float) -> float:
    """The objective's value of sending on ``route`` at ``t``."""
    return scenario.objective.value(true_rate(scenario, route, country, t), route.price)


class Truth:
    """The true delivery probability, conversion rate and value of every route at ``t``,
    recomputed only when something changes (a step, a ramp in progress, pumping)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        times: set[float] = {0.0}
        ramps: list[tuple[float, float]] = []
        for route in scenario.routes:
            for curve in route.deliver.values():
                for prev, point in itertools.pairwise(curve.points):
                    times.add(point.t)
                    if point.ramp:
                        ramps.append((prev.t, point.t))
        for pump in scenario.pumping:
            times.update((pump.start_s, pump.end_s))
        self._times = sorted(times)
        self._ramps = ramps
        self._next = 0  # index in _times of the next change
        self._valid_until = -1.0
        self._cache: dict[str, dict[str, tuple[float, float, float]]] = {}

    def at(self, country: str, t: float) -> dict[str, tuple[float, float, float]]:
        """route -> (p_deliver, true conversion rate, objective value) at ``t``."""
        if t >= self._valid_until or t < self._valid_from:
            self._refresh(t)
        cached = self._cache.get(country)
        if cached is None:
            cached = self._cache[country] = self._compute(country, t)
        return cached

    _valid_from = 0.0

    def _refresh(self, t: float) -> None:
        self._cache.clear()
        ramping = any(a <= t < b for a, b in self._ramps)
        later = [x for x in self._times if x > t]
        self._valid_from = t
        # in a ramp, values move every step: valid for this instant only
        self._valid_until = (
            math.nextafter(t, math.inf) if ramping else (later[0] if later else math.inf)
        )

    def _compute(self, country: str, t: float) -> dict[str, tuple[float, float, float]]:
        out = {}
        for route in self.scenario.routes:
            if route.serves(country):
                rate = true_rate(self.scenario, route, country, t)
                value = self.scenario.objective.value(rate, route.price)
                out[route.name] = (route.p_deliver(country, t), rate, value)
        return out


def _within_window(median_s: float, sigma: float, window_s: float) -> float:
    if median_s <= 0 or sigma <= 0:
        return 1.0 if median_s <= window_s else 0.0
    if window_s <= 0:
        return 0.0
    z = (math.log(window_s) - math.log(median_s)) / sigma
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def best_index(truth: dict[str, tuple[float, float, float]], candidates: list[Candidate]) -> int:
    """The index of the candidate of highest true value (ties: the earlier one)."""
    values = [truth[c.route_id][2] for c in candidates]
    return max(range(len(candidates)), key=lambda i: (values[i], -i))
