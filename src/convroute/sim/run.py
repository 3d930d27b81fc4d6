"""The simulation loop: messages go out one per ``interval_s``; the policy picks a route;
the simulated network delivers (or not), sends receipts (true, fake or none), and users
convert after a delay; the outcomes reach the policy when they happen, in time order.

Common random numbers: every message draws the same random numbers whatever route is chosen,
so two policies run on the same seed face the same users and the same network, and their
difference is their routing alone. The policy gets its own random stream. What is true (each
route's rate at a moment) and the dynamic oracle are ``truth.py``.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from convroute.routing.anomalies import PUMPING
from convroute.routing.delay import ConversionDelay
from convroute.routing.policies import make_policy
from convroute.routing.policy import (
    Candidate,
    Context,
    Outcome,
    OutcomeKind,
    Policy,
)
from convroute.routing.watch import AnomalyWatch
from convroute.sim.carrier import Draws, fate
from convroute.sim.reactions import reactions
from convroute.sim.scenario import RouteSpec, Scenario, place_of
from convroute.sim.truth import (
    ORACLE,
    Oracle,
    Truth,
    best_index,
    expected_value,
    true_rate,
    with_queues,
)

_ROLLING = 100  # messages in the window that defines which route "carries" the traffic
_MAX_SERIES = 400  # points kept for plots
_CHECK_EVERY_S = 10.0  # how often the anomaly watch looks at each destination
_FALSE_ALARM_GRACE_S = 600.0  # after an episode, its messages' outcomes are still coming in


@dataclass
class Series:
    """Per bucket of messages: each route's share of traffic and true conversion rate."""

    bucket: int
    t: list[float] = field(default_factory=list)
    share: dict[str, list[float]] = field(default_factory=dict)
    truth: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Result:
    """What one run measured. Expected values are the true rates of the routes chosen (no
    sampling noise); ``regret`` is the oracle's expected value minus the policy's."""

    scenario: str
    policy: str
    seed: int
    messages: int
    conversions: int  # that happened
    reported: int  # that the customer reported (what the engine saw)
    cost: float
    value: float  # conversions - lambda * cost
    expected_value: float
    oracle_expected_value: float
    reactions: list[int | None]  # messages until the new best carries > 50 %, per change
    switches: int  # changes of the route carrying > 50 % of the last 100 messages
    exploration: float  # share of decisions taken with probability < 0.5
    routes: list[str] = field(default_factory=list)
    series: Series | None = None
    resends: int = 0  # extra messages sent because users asked for a new code
    # reported received_after_expiration: the code reached the user after it expired and the
    # user tried it (the router learns "not converted" then, not at the window's close)
    late: int = 0
    switch_at: list[int] = field(default_factory=list)  # the messages at which it switched
    # anomalies the watch raised: (kind, place, raised at s, cleared at s or None, route or
    # None for the whole destination), in the order raised; None if the run was not watched
    anomalies: list[tuple[str, str, float, float | None, str | None]] | None = None
    pumping: list[tuple[float, float]] = field(default_factory=list)  # the scenario's episodes
    # the delay the policy's ledger learned by the end: (median s, sigma, conversions it
    # rests on), or None (no ledger, no window, or no fit yet)
    learned_delay: tuple[float, float, int] | None = None

    @property
    def regret(self) -> float:
        return self.oracle_expected_value - self.expected_value

    @property
    def pumping_flagged_after(self) -> list[float | None]:
        """Per pumping episode, seconds from its start until the watch raised a pumping
        anomaly (None: not during the episode)."""
        raised = [a[2] for a in self.anomalies or [] if a[0] == PUMPING]
        return [
            next((t - start for t in raised if start <= t < end), None)
            for start, end in self.pumping
        ]

    @property
    def false_alarms(self) -> int:
        """Pumping anomalies raised while no pumping episode (or its last window of
        conversions) was in progress."""
        return sum(
            1
            for a in self.anomalies or []
            if a[0] == PUMPING
            and not any(start <= a[2] < end + _FALSE_ALARM_GRACE_S for start, end in self.pumping)
        )

    @property
    def conversion_rate(self) -> float:
        return self.conversions / self.messages if self.messages else 0.0

    @property
    def cost_per_conversion(self) -> float | None:
        return self.cost / self.conversions if self.conversions else None


Prior = tuple[float, float]
"""A conversion-delay model a policy is told instead of the scenario's: (median s, sigma)."""


def make(
    scenario: Scenario, name: str, clock: Callable[[], float], prior: Prior | None = None
) -> Policy:
    """A policy by name for ``scenario``: its delay model (or the ``prior`` it is told) and
    its objective; or the oracle."""
    if name == ORACLE:
        return Oracle(scenario, clock)
    # the best route at the start first, as an operator would have configured the static and
    # failover policies
    place = scenario.destinations[0].place
    preference = sorted(
        (r.name for r in scenario.routes if r.serves(place)),
        key=lambda n: -expected_value(scenario, _route(scenario, n), place, 0.0),
    )
    return make_policy(
        name,
        delay_of(scenario, prior),
        scenario.objective,
        preference,
        learn_delay=True,  # (as the service's router learns it)
    )


def delay_of(scenario: Scenario, prior: Prior | None = None) -> ConversionDelay:
    """The scenario's conversion-delay distribution as the engine models it, or the
    ``prior`` (median, sigma) the policy is told instead."""
    u = scenario.users
    median, sigma = (u.delay_median_s, u.delay_sigma) if prior is None else prior
    return ConversionDelay(max(median, 1e-3), max(sigma, 1e-3), u.window_s)


def _route(scenario: Scenario, name: str) -> RouteSpec:
    return next(r for r in scenario.routes if r.name == name)


def compiled() -> bool:
    """Whether the simulator runs as a C extension (compiled by ``benchmarks/compiled.py``)
    rather than from its Python source."""
    return not __file__.endswith(".py")


def simulate(
    scenario: Scenario,
    policy: str | Policy,
    seed: int,
    progress: Callable[[int], None] | None = None,
    keep_series: bool = False,
    watch: bool = False,
    prior: Prior | None = None,
    trace: list[tuple[float, str, bool, bool]] | None = None,
) -> Result:
    """Run ``scenario`` once with ``policy`` (a name, or a policy object); with ``watch``, an
    anomaly watch (``AnomalyWatch``, with a pumping watch of its own) sees the same decisions
    and outcomes and the result lists what it raised. With ``prior``, the policy and the
    watch are told that delay model (median s, sigma), not the scenario's. ``trace`` gets
    each message's (sent at s, destination, pumped, converts), in order."""
    clock = _Clock()
    chooser = make(scenario, policy, clock, prior) if isinstance(policy, str) else policy
    watcher = AnomalyWatch(delay_of(scenario, prior)) if watch else None
    run = _Run(scenario, chooser, seed, clock, keep_series, watcher)
    run.trace = trace
    return run.run(progress)


class _Run:
    """The state of one simulation run."""

    def __init__(
        self,
        scenario: Scenario,
        chooser: Policy,
        seed: int,
        clock: _Clock,
        keep_series: bool,
        watch: AnomalyWatch | None = None,
    ) -> None:
        self.s, self.chooser, self.seed, self.clock = scenario, chooser, seed, clock
        self.watch = watch
        self.env = random.Random(seed)
        self.resend_env = random.Random(seed * 7_919 + 3)  # resends: their own stream
        self.policy_rng = random.Random(seed * 1_000_003 + 17)
        u = scenario.users
        self.window_ms = int(u.window_s * 1000)
        self.routes = {r.name: r for r in scenario.routes}
        # by place: a country, or country/network (each network its own context)
        self.candidates = {
            d.place: [Candidate(r.name, r.price) for r in scenario.routes if r.serves(d.place)]
            for d in scenario.destinations
        }
        self.contexts = {
            d.place: Context(d.country, d.network, "otp") for d in scenario.destinations
        }
        self.free_at = dict.fromkeys(self.routes, 0.0)  # throughput caps: when each is free
        self.capped = any(r.throughput > 0 for r in scenario.routes)
        self.oracle_free_at = dict(self.free_at)  # the regret's oracle's own queues
        if isinstance(chooser, Oracle):  # it routes by value with the queues of this run
            chooser.queued = self._queued
        self.events: list[tuple[int, int, Outcome]] = []
        self.resends: list[tuple[float, int, str, str, str]] = []  # (t, seq, id, place, avoid)
        self.seq = 0
        self.conversions = self.reported = self.explored = self.resent = self.late = 0
        self.cost = self.expected = self.oracle_expected = 0.0
        self.truth = Truth(scenario)
        # the oracle's best candidate per (destination, route a resend avoids), while the truth
        # it was read from is current
        self._oracle: dict[tuple[str, str | None], tuple[object, int, float]] = {}
        self.series = Series(max(1, scenario.messages // _MAX_SERIES)) if keep_series else None
        self.trace: list[tuple[float, str, bool, bool]] | None = None

    def run(self, progress: Callable[[int], None] | None) -> Result:
        s, interval = self.s, self.s.interval_s
        shares = [(d.place, d.share) for d in s.destinations]
        recent: deque[str] = deque(maxlen=_ROLLING)
        counts: Counter[str] = Counter()
        carrying: str | None = None
        switch_at: list[int] = []
        # per destination: (its message index, best route) at each change, and each message's
        # route (a reaction is a destination's: the best route differs between destinations)
        best_history: dict[str, list[tuple[int, str]]] = {}
        chosen_log: dict[str, list[str]] = {}
        bucket: Counter[str] = Counter()
        step = max(1, s.messages // 200)
        rnd = self.env.random
        next_check = _CHECK_EVERY_S
        for i in range(s.messages):
            t = i * interval
            while self.resends and self.resends[0][0] <= t:
                at, _, original, place, avoid = heapq.heappop(self.resends)
                self._deliver_events(at)
                self._send(f"{original}-resend", at, place, Draws.of(self.resend_env), avoid)
            self._deliver_events(t)
            if self.watch is not None and t >= next_check:
                # after everything due by t reached the policy: the watch changes nothing
                self._check(t)
                next_check = t + _CHECK_EVERY_S
            r_dest = rnd()
            place = shares[0][0]
            acc = 0.0
            for c, share in shares:
                acc += share
                if r_dest < acc:
                    place = c
                    break
            best = self._send(f"m{i}", t, place, Draws.of(self.env), None)
            route = self._last_route
            chosen = chosen_log.setdefault(place, [])
            history = best_history.setdefault(place, [])
            if not history or history[-1][1] != best:
                history.append((len(chosen), best))
            chosen.append(route)
            # which route carries the traffic
            if len(recent) == _ROLLING:
                counts[recent[0]] -= 1
            recent.append(route)
            counts[route] += 1
            # only the route just counted can have become the majority
            if route != carrying and counts[route] * 2 > len(recent):
                if carrying is not None:
                    switch_at.append(i)
                carrying = route
            if self.series is not None:
                bucket[route] += 1
                if (i + 1) % self.series.bucket == 0:
                    _flush(self.series, bucket, s, place, t)
            if progress is not None and (i + 1) % step == 0:
                progress(step)
        if progress is not None:
            progress(s.messages % step)
        return Result(
            scenario=s.name,
            policy=getattr(self.chooser, "name", "policy"),
            seed=self.seed,
            messages=s.messages,
            conversions=self.conversions,
            reported=self.reported,
            cost=self.cost,
            value=self.conversions - s.objective.lam * self.cost,
            expected_value=self.expected,
            oracle_expected_value=self.oracle_expected,
            reactions=[
                r for p, history in best_history.items() for r in reactions(history, chosen_log[p])
            ],
            switches=len(switch_at),
            switch_at=switch_at,
            anomalies=None if self.watch is None else _raised(self.watch),
            pumping=[(p.start_s, p.end_s) for p in s.pumping],
            exploration=self.explored / s.messages,
            routes=list(self.routes),
            series=self.series,
            resends=self.resent,
            late=self.late,
            learned_delay=_learned(self.chooser),
        )

    def _deliver_events(self, t: float) -> None:
        now_ms = int(t * 1000)
        events, watch = self.events, self.watch
        while events and events[0][0] <= now_ms:
            outcome = heapq.heappop(events)[2]
            self.chooser.observe(outcome)
            if watch is not None:
                watch.observe(outcome)

    def _check(self, t: float) -> None:
        """The anomaly watch looks at every destination."""
        assert self.watch is not None
        now_ms = int(t * 1000)
        for place, candidates in self.candidates.items():
            self.watch.check(self.contexts[place], [c.route_id for c in candidates], now_ms)

    _last_route = ""

    def _queued(self, route: str, t: float) -> float:
        """How long a message sent on ``route`` at ``t`` would wait for its cap."""
        return max(0.0, self.free_at[route] - t)

    def _shadow_oracle(
        self,
        truth: dict[str, tuple[float, float, float]],
        place: str,
        t: float,
        cands: list[Candidate],
    ) -> tuple[int, float]:
        """With capped routes, the oracle of the regret routes this run's messages with queues
        of its own (what its choices would have queued, not what the policy's did): its best
        candidate now and that one's value; its queue then moves as it chose."""
        own = with_queues(self.s, truth, place, t, self._oracle_queued)
        best_i = best_index(own, cands)
        name = cands[best_i].route_id
        route = self.routes[name]
        if route.throughput > 0:
            self.oracle_free_at[name] = max(t, self.oracle_free_at[name]) + 1.0 / route.throughput
        return best_i, own[name][2]

    def _oracle_queued(self, route: str, t: float) -> float:
        return max(0.0, self.oracle_free_at[route] - t)

    def _send(self, decision_id: str, t: float, place: str, d: Draws, avoid: str | None) -> str:
        """Send one message at ``t``; the best route at that instant by the routes' quality
        (with capped routes, not the capacity-aware oracle's choice, which alternates as its
        queues fill: a reaction is to a change of the routes, not of a queue)."""
        s, u = self.s, self.s.users
        self.clock.t = t
        now_ms = int(t * 1000)
        cands = self.candidates[place]
        if avoid is not None and len(cands) > 1:  # a resend avoids the route that just failed
            cands = [c for c in cands if c.route_id != avoid]
        now_truth = self.truth.at(place, t)
        if self.capped:
            best_i, best_value = self._shadow_oracle(now_truth, place, t, cands)
            quality_best = cands[best_index(now_truth, cands)].route_id
            # what each capped route is worth now to this message, with this run's queue
            now_truth = with_queues(s, now_truth, place, t, self._queued)
        else:
            cached = self._oracle.get((place, avoid))
            if cached is not None and cached[0] is now_truth:  # the truth has not changed
                best_i, best_value = cached[1], cached[2]
            else:
                best_i = best_index(now_truth, cands)
                best_value = now_truth[cands[best_i].route_id][2]
                self._oracle[(place, avoid)] = (now_truth, best_i, best_value)
            quality_best = cands[best_i].route_id
        self.oracle_expected += best_value

        decision = self.chooser.choose(
            decision_id, self.contexts[place], cands, now_ms, self.policy_rng
        )
        route = self.routes[decision.route_id]
        self._last_route = route.name
        if self.watch is not None:
            self.watch.record(decision_id, self.contexts[place], route.name, now_ms)
        if decision.probability < 0.5:
            self.explored += 1
        p_deliver, _, value = now_truth[route.name]
        self.expected += value
        self.cost += route.price

        # the network, the handset, the user
        start = t
        if route.throughput > 0:
            start = max(t, self.free_at[route.name])
            self.free_at[route.name] = start + 1.0 / route.throughput
        f = fate(s, route, place, t, d, p_deliver, start - t)
        if self.trace is not None:
            self.trace.append((t, place, f.pumped, f.converts))
        if f.converts:
            self.conversions += 1
        # the final outcome: reported converted, reported received after its expiration,
        # resent, or not converted at the window's close
        if f.reported:
            self.reported += 1
            kind, at = OutcomeKind.CONVERTED, int((t + f.convert_after_s) * 1000)
        elif f.late:
            self.late += 1
            kind, at = OutcomeKind.NOT_CONVERTED, int((t + f.convert_after_s) * 1000)
        elif avoid is None and not f.converts and d.resend < u.resend_share:
            # the user asks for a new code: this message is "resent" (reward 0) then, and
            # a new one goes out, avoiding this route
            resend_t = t + u.resend_after_s
            kind, at = OutcomeKind.NOT_CONVERTED, int(resend_t * 1000)
            self.seq += 1
            heapq.heappush(self.resends, (resend_t, self.seq, decision_id, place, route.name))
            self.resent += 1
        else:
            kind, at = OutcomeKind.NOT_CONVERTED, now_ms + self.window_ms
        # outcomes are built as Outcome(*fields), without the named tuple's Python constructor
        # (two or three per simulated message)
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, tuple.__new__(Outcome, (decision_id, kind, at))))
        if f.receipt is not None:
            kind = OutcomeKind.DLR_DELIVERED if f.receipt == "delivered" else OutcomeKind.DLR_FAILED
            at = int((t + f.receipt_after_s) * 1000) if f.submitted else now_ms
            self.seq += 1
            heapq.heappush(
                self.events, (at, self.seq, tuple.__new__(Outcome, (decision_id, kind, at)))
            )
        return quality_best


def _learned(policy: object) -> tuple[float, float, int] | None:
    learner = getattr(getattr(policy, "ledger", None), "learner", None)
    fitted = None if learner is None else learner.fitted
    if fitted is None:
        return None
    return (fitted.delay.median_s, fitted.delay.sigma, fitted.conversions)


def _raised(watch: AnomalyWatch) -> list[tuple[str, str, float, float | None, str | None]]:
    return [
        (
            a.kind,
            place_of(a.context.country, a.context.network),
            a.started_ms / 1000.0,
            None if a.cleared_ms is None else a.cleared_ms / 1000.0,
            a.route_id,
        )
        for a in watch.episodes()
    ]


class _Clock:
    """The simulated time the oracle reads."""

    t = 0.0

    def __call__(self) -> float:
        return self.t


def _flush(series: Series, bucket: Counter[str], scenario: Scenario, place: str, t: float) -> None:
    total = sum(bucket.values())
    series.t.append(t)
    for r in scenario.routes:
        series.share.setdefault(r.name, []).append(bucket[r.name] / total if total else 0.0)
        series.truth.setdefault(r.name, []).append(true_rate(scenario, r, place, t))
    bucket.clear()
