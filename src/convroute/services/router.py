"""Live routing: the learning engine inside the service (DESIGN 4, 5).

``LiveRouter`` holds one routing policy. Sends ask it for a route among the enabled routes
that serve the destination; it learns only from the event log — decisions, delivery receipts
and conversion events (client reports and window closes) as the store reads them back
(``EventLog.poll``) — never from what its own process just did. So its state is a function of
the log: an instance rebuilds it at start-up by reading the log, then keeps it current by
tailing it, and every instance on one database converges on the same statistics.

Only traffic of the ``2fa`` class trains OTP routing: a message's routing context is its
destination and its *traffic*, which is its type for 2FA traffic and ``other`` for the rest.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from convroute.domain.capacity import Capacity
from convroute.domain.destinations import Destination
from convroute.domain.errors import NoRouteError
from convroute.domain.models import DEFAULT_ROUTING, AccountRouting, Route
from convroute.domain.statuses import ConversionStatus, DlrStatus, MessageType, TrafficClass
from convroute.observe import events
from convroute.routing.anomalies import Anomaly
from convroute.routing.base import LedgerPolicy, Objective, View, draw
from convroute.routing.delay import ConversionDelay
from convroute.routing.estimates import Estimate
from convroute.routing.policy import Candidate, Context, Outcome, OutcomeKind
from convroute.routing.replay import replay_steps
from convroute.routing.static import Choice, serving
from convroute.routing.watch import AnomalyWatch
from convroute.services.objectives import objective_of
from convroute.services.ports import LogBatch, LoggedDecision

# DESIGN 2.1: what each conversion status teaches the router.
OUTCOME_OF_STATUS: dict[ConversionStatus, OutcomeKind | None] = {
    ConversionStatus.CONVERTED: OutcomeKind.CONVERTED,
    ConversionStatus.CONVERTED_OTHER: OutcomeKind.NOT_CONVERTED,
    ConversionStatus.NOT_CONVERTED: OutcomeKind.NOT_CONVERTED,
    ConversionStatus.RESENT: OutcomeKind.NOT_CONVERTED,
    ConversionStatus.RECEIVED_AFTER_EXPIRATION: OutcomeKind.NOT_CONVERTED,
    ConversionStatus.CANCELED: OutcomeKind.CANCELED,
    ConversionStatus.INCORRECT_CODE: None,  # not final: nothing learned yet
}
OUTCOME_OF_RECEIPT: dict[DlrStatus, OutcomeKind | None] = {
    DlrStatus.DELIVERED: OutcomeKind.DLR_DELIVERED,
    DlrStatus.FAILED: OutcomeKind.DLR_FAILED,
    DlrStatus.EXPIRED: OutcomeKind.DLR_FAILED,
    DlrStatus.UNKNOWN: None,
}


def decision_key(message_id: str, attempt: int) -> str:
    """The policy's key for a message's decision: its id, or for a failover its id and the
    attempt's number."""
    return message_id if not attempt else f"{message_id}/{attempt}"


def traffic_of(message_type: MessageType, traffic_class: TrafficClass) -> str:
    """The traffic a message's statistics are kept under: its type for 2FA traffic, ``other``
    for everything sent with a non-2FA credential (it never trains OTP routing)."""
    return message_type.value if traffic_class is TrafficClass.TWO_FA else MessageType.OTHER.value


def context_of(
    dest: Destination, message_type: MessageType, traffic_class: TrafficClass
) -> Context:
    """The routing context of a message."""
    return Context(dest.country, dest.network, traffic_of(message_type, traffic_class))


def anomaly_watch(policy: LedgerPolicy, delay: ConversionDelay) -> AnomalyWatch:
    """A watch of every anomaly for the traffic ``policy`` routes: on the policy's ledger,
    with its pumping watch, where it keeps one (the default policy does); else on a ledger
    of its own, which the router feeds."""
    if policy.watch is not None:
        return AnomalyWatch(pumping=policy.watch)
    return AnomalyWatch(delay)


@dataclass
class RouterState:
    """What the log made of a router: the policy with its ledger, the anomaly watch, the
    routes each destination used, the messages failed over, how many entries it applied."""

    policy: LedgerPolicy
    watch: AnomalyWatch | None
    seen: dict[Context, list[str]]
    current: dict[str, str]
    applied: int


@dataclass
class LiveRouter:
    """The policy, its randomness, the anomaly watch, and a lock: sends choose from the
    writer thread while the log tailer applies what it read.

    Time passes for the policy and the watch in two places only: a send (``choose``) and the
    periodic look (``advance``, which the log follower calls after each read). What reads
    the router for operators (``quality``, ``anomalies``) changes nothing."""

    policy: LedgerPolicy
    rng: random.Random = field(default_factory=random.Random)
    applied: int = 0  # log entries applied so far
    # anomalies (DESIGN 6) of the traffic it routes: looked at as sends come and periodically
    watch: AnomalyWatch | None = None
    look_every_ms: float = 10_000.0  # the periodic look's interval per destination
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # the routes each destination used, as the log shows them, and when each is looked at
    _seen: dict[Context, list[str]] = field(default_factory=dict, repr=False)
    _next_look: dict[Context, int] = field(default_factory=dict, repr=False)
    # the decision now carrying each message that failed over (its outcomes are that one's)
    _current: dict[str, str] = field(default_factory=dict, repr=False)
    # each capped route's messages per second, as this instance admits them
    capacity: Capacity = field(default_factory=Capacity, repr=False)
    # events (observe/events.py): what was announced of each anomaly (by identity: active or
    # not), each destination's route shares, and the route names it saw
    share_threshold: float = 0.2  # a move this large of a route's share is an event
    _announced: dict[int, bool] | None = field(default=None, repr=False)
    _shares: dict[tuple[Context, str], float] = field(default_factory=dict, repr=False)
    _moving: dict[tuple[Context, str], float] = field(default_factory=dict, repr=False)
    _names: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.policy.name

    def choose(
        self,
        routes: Sequence[Route],
        dest: Destination,
        message_type: MessageType,
        traffic_class: TrafficClass,
        now_ms: int,
        avoid_route_id: str | None = None,
        exclude: Collection[str] = (),
        routing: AccountRouting = DEFAULT_ROUTING,
    ) -> Choice:
        """A route for a message, with the probability the policy chose it with. Only enabled
        routes serving ``dest`` that the account's ``routing`` permits are candidates;
        ``avoid_route_id`` (the route a resend's earlier message went by) is left out when
        another candidate remains, the routes in ``exclude`` (those that refused the message:
        a failover) always; the candidates are valued by the account's objective, where it
        has its own. NoRouteError when no route serves ``dest``."""
        served, candidates = candidates_for(routes, dest, avoid_route_id, exclude, routing)
        context = context_of(dest, message_type, traffic_class)
        objective = objective_of(routing)
        with self._lock:
            self._names.update((r.id, r.name) for _, r in served)
            everyone = [c.route_id for c in candidates]
            candidates, reason = self._with_room(served, candidates, now_ms)
            probabilities = self.policy.advance(context, candidates, now_ms, objective)
            route_id = draw(probabilities, self.rng)
            if self.watch is not None and avoid_route_id is None:  # (a resend: a subset)
                self.watch.tick(context, everyone, now_ms)
            price, route = next(s for s in served if s[1].id == route_id)
            self.capacity.take(route, now_ms)
        return Choice(
            route=route,
            price=price,
            probability=probabilities[route_id],
            policy=self.policy.name,
            candidates=tuple((c.route_id, c.price) for c in candidates),
            reason=reason,
            explored=probabilities[route_id] < max(probabilities.values()),
            probabilities=tuple(probabilities.get(c.route_id, 0.0) for c in candidates),
        )

    def state(self) -> RouterState:
        """What the log made of the router (for a checkpoint). Not the randomness, the caps
        or what was announced: those are this instance's own."""
        return RouterState(self.policy, self.watch, self._seen, self._current, self.applied)

    def restore(self, state: RouterState) -> None:
        """Take a ``state`` (before the first look or send); ValueError if it is another
        kind of router's."""
        if type(state.policy) is not type(self.policy) or type(state.watch) is not type(self.watch):
            raise ValueError("a checkpoint of another policy")
        self.policy, self.watch = state.policy, state.watch
        self._seen, self._current = dict(state.seen), dict(state.current)
        self.applied = state.applied

    def at_cap(self, now_ms: int) -> dict[str, bool]:
        """Each capped route: whether this instance admits no more to it right now."""
        with self._lock:
            return self.capacity.saturated(now_ms)

    def _with_room(
        self, served: list[tuple[float, Route]], candidates: list[Candidate], now_ms: int
    ) -> tuple[list[Candidate], str | None]:
        """The candidates below their cap, and why others were left out; all of them when
        every one is at its cap (the dispatcher paces the submit)."""
        full = {r.id: r.name for _, r in served if not self.capacity.has_room(r, now_ms)}
        if not full or len(full) == len(candidates):
            return candidates, None
        names = ", ".join(sorted(full.values()))
        return [c for c in candidates if c.route_id not in full], f"at its cap: {names}"

    def apply(self, batch: LogBatch) -> None:
        """Learn from what the log gained: decisions first, then their outcomes, under one
        hold of the lock. (Applied a chunk per hold instead, a send between the chunks made
        the watch test a state with decisions but not yet their outcomes: a passing change
        point there moved its test past a real drop, which then went unraised;
        docs/benchmarks.md, "Issue 20: attempts".)"""
        if not len(batch):
            return
        with self._lock:
            policy, watch = self.policy, self.watch
            for d in batch.decisions:
                context = _context(d)
                _seen(self._seen, d)
                key = decision_key(d.message_id, d.attempt)
                if d.attempt:  # its earlier route refused it: that decision failed
                    refused = Outcome(
                        self._current.get(d.message_id, d.message_id),
                        OutcomeKind.NOT_CONVERTED,
                        d.sent_ms,
                    )
                    policy.observe(refused)
                    if watch is not None:
                        watch.observe(refused)
                    self._current[d.message_id] = key
                policy.record(key, context, d.route_id, d.sent_ms)
                if watch is not None:
                    watch.record(key, context, d.route_id, d.sent_ms)
            current = self._current
            outcomes = [
                Outcome(current.get(r.message_id, r.message_id), kind, r.event_ms)
                for r in batch.dlrs
                if (kind := OUTCOME_OF_RECEIPT[r.status]) is not None
            ] + [
                Outcome(current.get(c.message_id, c.message_id), kind, c.event_ms)
                for c in batch.conversions
                if (kind := OUTCOME_OF_STATUS[c.status]) is not None
            ]
            for outcome in outcomes:
                policy.observe(outcome)
                if watch is not None:
                    watch.observe(outcome)
            if current:  # a failed-over message's final outcome: nothing more will come
                for c in batch.conversions:
                    if c.status.is_final:
                        current.pop(c.message_id, None)
            if batch.decisions:  # the delay's fit due at the batch's time, now its outcomes
                # are in: a router that read the log in one batch fits where one that read it
                # as it grew did (its decisions came before their conversions)
                reached = max(d.sent_ms for d in batch.decisions)
                policy.ledger.learn_to(reached)
                if watch is not None and watch.ledger is not policy.ledger:
                    watch.ledger.learn_to(reached)
            self.applied += len(batch)

    def replay(self, batch: LogBatch, recent_ms: float | None = None, full_every: int = 30) -> None:
        """Learn from a start-up read of the log (a day of it): what came before its last
        ``recent_ms`` (default: the change test's horizon, an hour at pace 1) at once, then
        the rest in time order, looking every check interval at each destination that had
        news in it (a send, a receipt, a conversion), as sends and outcomes would have made
        the router look, and at every destination with traffic every ``full_every``
        intervals (what only time reveals: receipts that never come). So the policy's
        change tests and the anomaly watch see that hour as they would have live: an episode
        is dated when the evidence allowed, not at start-up. (Looking at every destination
        every interval cost 96 % of a start-up over 200 destinations:
        docs/benchmarks.md, "Router start-up".)"""
        history = self.policy.ledger.history
        if history is None and self.watch is not None:  # (the watch's own, paced the same)
            history = self.watch.ledger.history
        if recent_ms is None:
            recent_ms = 3_600_000.0 if history is None else history.horizon_ms
        step_ms = 10_000.0 if self.watch is None else self.watch.check_every_ms
        # the routes each destination used, as seen (restored from a checkpoint: all before)
        routes: dict[Context, list[str]] = {c: list(ids) for c, ids in self._seen.items()}
        where: dict[str, Context] = {}  # message -> its destination, for the recent outcomes
        records = self.policy.ledger.records  # (and the decisions a checkpoint brought)
        moved = self.policy.ledger.moved_to_ms  # (restored from a checkpoint: looked until)
        steps = replay_steps(
            batch.decisions, batch.conversions, batch.dlrs, recent_ms, step_ms,
            after_ms=moved if moved > 0 else None,
        )  # fmt: skip
        # the part before: its last hour's messages may have outcomes in the recent part
        since = max((d.sent_ms for d in batch.decisions), default=0) - recent_ms - 3_600_000
        looks = 0
        for step in steps:
            for d in step.decisions:
                _seen(routes, d)
            if step.look_ms is not None:  # (the recent part: its messages' places are kept)
                for d in step.decisions:
                    where[d.message_id] = _context(d)
            self.apply(LogBatch(step.decisions, step.conversions, step.dlrs))
            if step.look_ms is None:
                where.update(
                    (d.message_id, _context(d)) for d in step.decisions if d.sent_ms >= since
                )
                if step.until_ms is not None:  # its decisions settle and age out as they go
                    self._let_time_pass(step.until_ms)
                continue
            looks += 1
            if looks % full_every == 0:
                self._look(routes, step.look_ms)
                continue
            news = {_context(d) for d in step.decisions}
            for message_id in [c.message_id for c in step.conversions] + [
                r.message_id for r in step.dlrs
            ]:
                if (context := where.get(message_id)) is not None:
                    news.add(context)
                elif (record := records.get(message_id)) is not None:
                    news.add(record.key[0])
            self._look({c: routes[c] for c in news if c in routes}, step.look_ms)

    def _let_time_pass(self, now_ms: int) -> None:
        """The ledgers' time to ``now_ms`` (no look: no test, no anomaly)."""
        with self._lock:
            self.policy.ledger.advance(now_ms)
            if self.watch is not None and self.watch.ledger is not self.policy.ledger:
                self.watch.ledger.advance(now_ms)

    def advance(self, now_ms: int) -> None:
        """The periodic look: what a send would make the router do at ``now_ms``, for every
        destination with traffic that was not looked at for ``look_every_ms`` (the policy's
        periodic tests and the anomaly watch's look), so anomalies are raised and cleared
        without waiting for the next send."""
        with self._lock:
            due = {
                context: ids
                for context, ids in self._seen.items()
                if now_ms >= self._next_look.get(context, 0)
            }
        for context in due:
            self._next_look[context] = now_ms + int(self.look_every_ms)
        shares = self._look(due, now_ms)
        self._announce(shares, now_ms)

    def _look(
        self, routes: dict[Context, list[str]], now_ms: int
    ) -> dict[Context, dict[str, float]]:
        """What a send to each destination would make the router do at ``now_ms``: the
        policy's periodic tests, then the anomaly watch's look; each one's shares."""
        shares = {}
        with self._lock:
            for context, ids in routes.items():
                candidates = [Candidate(route_id, 0.0) for route_id in ids]
                shares[context] = self.policy.advance(context, candidates, now_ms)
                if self.watch is not None:
                    self.watch.tick(context, ids, now_ms)
        return shares

    def _announce(self, shares: dict[Context, dict[str, float]], now_ms: int) -> None:
        """Log, as events, the anomalies raised and cleared since the last look and the
        routes whose share of a destination moved past ``share_threshold`` and stayed there
        at the next look (a passing swing is not an event). At the first
        look (after the log was read back at start) only what is in progress is told."""
        said: list[tuple[str, dict[str, object]]] = []
        with self._lock:
            for context, probabilities in shares.items():
                for route_id, share in probabilities.items():
                    key = (context, route_id)
                    before = self._shares.get(key)
                    if before is None:
                        self._shares[key] = share
                        continue
                    if abs(share - before) < self.share_threshold:
                        self._moving.pop(key, None)
                        continue
                    # told once the next look finds it there too (not a passing swing)
                    moving = self._moving.pop(key, None)
                    if moving is None or abs(share - moving) >= self.share_threshold / 2:
                        self._moving[key] = share
                        continue
                    self._shares[key] = share
                    said.append(("share", {
                        **_where(context), "route": self._names.get(route_id, route_id),
                        "route_id": route_id, "share_before": round(before, 4),
                        "share_after": round(share, 4),
                    }))  # fmt: skip
            episodes = self.watch.episodes() if self.watch is not None else []
            first = self._announced is None
            announced = {} if self._announced is None else self._announced
            now = {}
            for episode in episodes:
                was = announced.get(id(episode))
                if was is None and (episode.active or not first):
                    said.append(("raised", self._anomaly_fields(episode)))
                if episode.cleared_ms is not None and (was or (was is None and not first)):
                    said.append(("cleared", self._anomaly_fields(episode)))
                now[id(episode)] = episode.active
            self._announced = now
        for what, fields in said:
            if what == "share":
                events.share_moved(**fields)
            else:
                events.anomaly(what == "raised", **fields)

    def _anomaly_fields(self, a: Anomaly) -> dict[str, object]:
        return {
            "kind": a.kind,
            **_where(a.context),
            "route": None if a.route_id is None else self._names.get(a.route_id, a.route_id),
            "route_id": a.route_id,
            "severity": round(a.severity, 4),
            "evidence": dict(a.evidence),
            "started_ms": a.started_ms,
            "cleared_ms": a.cleared_ms,
        }

    def read(
        self,
        context: Context,
        candidates: list[Candidate],
        now_ms: int,
        objective: Objective | None = None,
    ) -> tuple[list[View], list[Estimate]]:
        """What the policy shows of each candidate now (``explain``, under ``objective``
        where given: an account's), and each one's long-term estimate; reads only (the tests
        and the watch run at sends and at the periodic look)."""
        ids = [c.route_id for c in candidates]
        with self._lock, self.policy.ledger.provisional(now_ms):
            views = self.policy.explain(context, candidates, now_ms, objective)
            long_term = self.policy.ledger.own(context, ids, now_ms)
        return views, long_term

    def anomaly_counts(self) -> dict[str, tuple[int, int]]:
        """Per kind of anomaly, the episodes raised since start and how many are in progress
        now (none without a watch)."""
        if self.watch is None:
            return {}
        with self._lock:
            return self.watch.counts()

    def anomalies(
        self,
        dest: Destination,
        message_type: MessageType,
        traffic_class: TrafficClass,
        since_ms: int,
    ) -> list[Anomaly]:
        """The episodes raised for ``dest``'s traffic that were in progress at ``since_ms``
        or later (those in progress included), oldest first."""
        if self.watch is None:
            return []
        context = context_of(dest, message_type, traffic_class)
        with self._lock:
            return [
                a
                for a in self.watch.episodes()
                if a.context == context and (a.cleared_ms is None or a.cleared_ms >= since_ms)
            ]


def _context(d: LoggedDecision) -> Context:
    return Context(d.country, d.network, traffic_of(d.type, d.traffic_class))


def _where(context: Context) -> dict[str, object]:
    return {"country": context.country, "network": context.network, "traffic": context.traffic}


def _seen(routes: dict[Context, list[str]], d: LoggedDecision) -> None:
    ids = routes.setdefault(_context(d), [])
    if d.route_id not in ids:
        ids.append(d.route_id)


def candidates_for(
    routes: Sequence[Route],
    dest: Destination,
    avoid_route_id: str | None,
    exclude: Collection[str] = (),
    routing: AccountRouting = DEFAULT_ROUTING,
) -> tuple[list[tuple[float, Route]], list[Candidate]]:
    """The routes serving ``dest`` (cheapest first) that the account's ``routing`` permits,
    less those excluded and the one to avoid if another remains, and the same as the
    policy's candidates."""
    served = serving(routes, dest)  # (NoRouteError: no route at all)
    if routing.allow or routing.forbid:
        served = [s for s in served if routing.permits(s[1].id)]
        if not served:
            where = dest.country + (f" ({dest.network})" if dest.network else "")
            raise NoRouteError(
                f"no route this account allows serves {where}", {"dst": [f"no route to {where}"]}
            )
    if exclude:
        served = [s for s in served if s[1].id not in exclude]
        if not served:
            raise NoRouteError(
                f"no other route serves {dest.country}: every one refused the message"
            )
    if avoid_route_id is not None and len(served) > 1:
        served = [s for s in served if s[1].id != avoid_route_id] or served
    return served, [Candidate(route.id, price) for price, route in served]
