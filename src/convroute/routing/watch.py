"""The anomaly watch (DESIGN 6): every kind of ``anomalies``, per destination and route.

``AnomalyWatch`` looks at each destination at most every ``check_every_s`` (``tick``) and
raises or clears episodes of:

* **pumping**, through a ``PumpingWatch`` (its own, or the routing policy's: the default
  policy keeps one, since it routes differently while pumping is raised);
* **conversion_drop** of one route: the change-point test (``changes.change_point``, at
  ``delta``) finds a point in the route's history since its last one, and the rate after it
  is at least ``min_drop`` (relative) below the rate before, and the drop is the route's
  own: the destination's other routes, since the same point, do not convert below their
  long-term rates by more than ``shared_z`` standard errors (a dip every route shares is
  the pumping watch's). When the others' dip rests on too few messages for its z to mean
  that (a variance under ``SHARED_MIN_VARIANCE``), or they carried too little traffic
  since then to show a dip as deep, the same history is tested again at the next check; a
  destination with one route needs no such comparison. None is raised while pumping is.
  It clears at a later change point whose rate after is back within ``min_drop`` of the
  rate it fell from. A steady drift finds no single point that deep and is not a drop; the
  routing policy reacts to it through its memories;
* **receipts_diverge**: the route's receipts say "delivered" for messages that convert under
  ``diverge_ratio`` of the rate of the other routes' delivered ones, by more than
  ``diverge_z`` standard errors, from the routes' long-term receipt calibrations
  (``anomalies.diverging_receipts``); clears when the gap is under 2 standard errors or the
  rate is back above ``diverge_ratio + 0.1`` of the others';
* **no_receipts**: over the recent memory (the long one for a route that sent fewer than
  ``min_sent`` messages in the recent one) the route sent at least ``min_sent`` messages
  and had receipts for under ``missing`` of them; clears once it has receipts for ``back``
  of them. Receipts that come later than about a third of the recent memory (τ ≈ 3-5 min)
  look missing.

A route no longer among a destination's candidates (disabled, or no longer serving it) has
its episodes there cleared. Without enough evidence an episode stays as it is.

The watch reads a ledger of two memories (long, recent): the pumping watch's. With a pumping
watch of its own it keeps that ledger fed (``record``, ``observe``) and its history (for the
drop test); with the policy's, the policy does (the default policy keeps the history; without
it no drop is raised). Pure: the clock is the ``now_ms`` each call passes, no I/O.
"""

from __future__ import annotations

import bisect
import math

from convroute.routing.anomalies import (
    CONVERSION_DROP,
    KINDS,
    NO_RECEIPTS,
    RECEIPTS_DIVERGE,
    Anomaly,
    receipt_gaps,
)
from convroute.routing.changes import Row, change_point, shortfall, totals
from convroute.routing.delay import ConversionDelay
from convroute.routing.estimates import Estimate
from convroute.routing.policy import Context, Outcome
from convroute.routing.pumping import PumpingWatch

CHECK_EVERY_S = 10.0
KEEP_S = 7 * 86_400.0  # how long an ended episode is kept (the quality report shows a day)
DROP_DELTA = 1e-3  # the drop test's false-alarm level (its threshold's delta)
# the others' dip since a route's change point is read as shared only where their shortfall's
# variance is at least this (the usual condition, n p (1 - p) >= 9, for a binomial's normal
# approximation: below it, 3 conversions short of 12 at 0.84 reads z = 2.4 where the chance of
# as few is 0.3); below it, the history is tested again at the next check
SHARED_MIN_VARIANCE = 9.0

_Key = tuple[str, Context, str]  # (kind, destination, route)


class AnomalyWatch:
    """Raises and clears every kind of anomaly for the traffic its ledger sees."""

    def __init__(
        self,
        delay: ConversionDelay | None = None,
        pumping: PumpingWatch | None = None,
        *,
        delta: float = DROP_DELTA,
        min_drop: float = 0.15,
        shared_z: float = 2.0,
        clear_z: float = 2.0,
        min_sent: float = 30.0,
        missing: float = 0.1,
        back: float = 0.3,
        diverge_z: float = 3.0,
        diverge_ratio: float = 0.5,
        check_every_s: float = CHECK_EVERY_S,
        keep_s: float = KEEP_S,
    ) -> None:
        self._owns_pumping = pumping is None
        self.pumping = PumpingWatch(delay) if pumping is None else pumping
        self.ledger = self.pumping.ledger
        if self._owns_pumping:
            self.ledger.keep_history()  # for the change-point test of drops
        self.delta, self.min_drop, self.shared_z, self.clear_z = delta, min_drop, shared_z, clear_z
        self.min_sent, self.missing, self.back = min_sent, missing, back
        self.diverge_z, self.diverge_ratio = diverge_z, diverge_ratio
        self.check_every_ms = check_every_s * 1000.0
        # episodes cleared longer ago than this are let go (a server runs for months); the
        # counts of what was raised keep them
        self.keep_ms = keep_s * 1000.0
        self._let_go: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.anomalies: list[Anomaly] = []  # the routes' episodes, in the order raised
        self._open: dict[_Key, Anomaly] = {}
        # per route: where its history's last change point is (the test looks at what came
        # after), and, while a drop is raised, the rate it fell from
        self._segment: dict[tuple[Context, str], float] = {}
        self._before: dict[tuple[Context, str], float] = {}
        self._next: dict[Context, int] = {}

    # -- what it sees ------------------------------------------------------------------------

    def record(self, decision_id: str, context: Context, route_id: str, sent_ms: int) -> None:
        """A message was sent on ``route_id`` (with the policy's pumping watch, the policy
        records it)."""
        if self._owns_pumping:
            self.pumping.record(decision_id, context, route_id, sent_ms)

    def observe(self, outcome: Outcome) -> None:
        """An outcome of a recorded message (any order, any delay)."""
        if self._owns_pumping:
            self.pumping.observe(outcome)

    def set_pace(self, pace: float) -> None:
        """Time constants divided by ``pace`` (traffic played ``pace`` x real time); the
        policy paces its own pumping watch."""
        if self._owns_pumping:
            self.pumping.set_pace(pace)
        self.check_every_ms /= pace

    # -- checks ------------------------------------------------------------------------------

    def tick(self, context: Context, route_ids: list[str], now_ms: int) -> None:
        """``check`` the destination if it was not checked in the last ``check_every_s``."""
        if now_ms >= self._next.get(context, -(2**62)):
            self._next[context] = now_ms + int(self.check_every_ms)
            self.check(context, route_ids, now_ms)

    def check(self, context: Context, route_ids: list[str], now_ms: int) -> None:
        """Raise or clear the destination's anomalies as of ``now_ms``; ``route_ids``: its
        candidate routes."""
        if self._owns_pumping:
            self.pumping.check(context, route_ids, now_ms)
        slow, recent = self.ledger.own_all(context, route_ids, now_ms)[:2]
        self._drops(context, route_ids, slow, now_ms)
        self._receipts_missing(context, route_ids, slow, recent, now_ms)
        self._receipts_diverging(context, route_ids, slow, now_ms)
        candidates = set(route_ids)
        for key in [k for k in self._open if k[1] == context and k[2] not in candidates]:
            self._clear(key, now_ms)

    def _let_go_before(self, horizon_ms: float) -> None:
        """Forget the episodes cleared before ``horizon_ms`` (counting them)."""
        for episodes in (self.anomalies, self.pumping.anomalies):
            kept = []
            for a in episodes:
                if a.cleared_ms is not None and a.cleared_ms < horizon_ms:
                    self._let_go[a.kind] += 1
                else:
                    kept.append(a)
            episodes[:] = kept

    def _drops(
        self, context: Context, route_ids: list[str], slow: list[Estimate], now_ms: int
    ) -> None:
        if self.ledger.history is None:
            return
        pumping = self.pumping.active(context) is not None
        for i, route_id in enumerate(route_ids):
            segment = (context, route_id)
            previous = self._segment.get(segment, -1.0)
            rows = self.ledger.settled_since(context, route_id, previous, now_ms)
            split = change_point(rows, self.delta)
            if split is None:
                continue
            self._segment[segment] = split
            at = bisect.bisect_left(rows, split, key=_start)
            rate_before, rate_after = _rate(rows[:at]), _rate(rows[at:])
            key = (CONVERSION_DROP, context, route_id)
            episode = self._open.get(key)
            if episode is not None:
                fell_from = self._before[segment]
                episode.severity = max(episode.severity, 1.0 - rate_after / fell_from)
                if rate_after >= (1.0 - self.min_drop) * fell_from:
                    self._clear(key, now_ms)  # back near the rate it fell from
                continue
            if pumping or rate_after > (1.0 - self.min_drop) * rate_before:
                continue
            drop = 1.0 - rate_after / rate_before
            expected, observed, variance = shortfall(
                [
                    (self.ledger.since(context, other, split, now_ms), slow[j].mean)
                    for j, other in enumerate(route_ids)
                    if j != i
                ]
            )
            z_others = (expected - observed) / math.sqrt(variance) if variance > 0 else 0.0
            if z_others > self.shared_z and variance >= SHARED_MIN_VARIANCE:
                continue  # the other routes dip since then too: the traffic's, not the route's
            if z_others > self.shared_z or (
                len(route_ids) > 1 and drop * expected < 2.0 * self.shared_z * math.sqrt(variance)
            ):
                # the route's or everyone's? Not told yet: the others' dip rests on too few
                # messages, or they carried too little traffic since then to show a dip as
                # deep. The same history is tested again at the next check
                self._segment[segment] = previous
                continue
            self._raise(
                key,
                now_ms,
                drop,
                {
                    "rate_before": round(rate_before, 4),
                    "rate_after": round(rate_after, 4),
                    "changed_s_ago": round((now_ms - split) / 1000.0, 1),
                    "evidence_before": round(totals(rows[:at])[0], 1),
                    "evidence_after": round(totals(rows[at:])[0], 1),
                    "other_routes_shortfall_z": round(z_others, 2),
                },
            )
            self._before[segment] = rate_before

    def _receipts_missing(
        self,
        context: Context,
        route_ids: list[str],
        slow: list[Estimate],
        recent: list[Estimate],
        now_ms: int,
    ) -> None:
        for route_id, s, r in zip(route_ids, slow, recent):  # noqa: B905 (one per route)
            e = r if r.sent >= self.min_sent else s  # a route with little traffic: long-term
            if e.sent < self.min_sent:
                continue
            key = (NO_RECEIPTS, context, route_id)
            share = min(1.0, e.receipts / e.sent)
            episode = self._open.get(key)
            if episode is not None:
                episode.severity = max(episode.severity, 1.0 - share)
                if share >= self.back:
                    self._clear(key, now_ms)
            elif share < self.missing:
                evidence = {
                    "messages": round(e.sent, 1),
                    "receipts": round(e.receipts, 1),
                    "receipt_share": round(share, 4),
                }
                self._raise(key, now_ms, 1.0 - share, evidence)

    def _receipts_diverging(
        self, context: Context, route_ids: list[str], slow: list[Estimate], now_ms: int
    ) -> None:
        for route_id, (mine, others, spread) in receipt_gaps(route_ids, slow).items():
            key = (RECEIPTS_DIVERGE, context, route_id)
            severity = 1.0 - mine / others if others > 0 else 0.0
            episode = self._open.get(key)
            if episode is not None:
                episode.severity = max(episode.severity, severity)
                ratio = self.diverge_ratio + 0.1
                if mine >= ratio * others or others - mine <= self.clear_z * spread:
                    self._clear(key, now_ms)
            elif mine < self.diverge_ratio * others and others - mine > self.diverge_z * spread:
                evidence = {
                    "converts_if_delivered": round(mine, 4),
                    "other_routes_if_delivered": round(others, 4),
                    "z": round((others - mine) / spread, 2),
                }
                self._raise(key, now_ms, severity, evidence)

    def _raise(self, key: _Key, now_ms: int, severity: float, evidence: dict[str, float]) -> None:
        kind, context, route_id = key
        self._let_go_before(now_ms - self.keep_ms)  # (episodes grow only here, and rarely)
        episode = Anomaly(kind, context, now_ms, None, severity, evidence, route_id)
        self.anomalies.append(episode)
        self._open[key] = episode

    def _clear(self, key: _Key, now_ms: int) -> None:
        self._open.pop(key).cleared_ms = now_ms
        if key[0] == CONVERSION_DROP:
            del self._before[(key[1], key[2])]

    # -- what it raised ----------------------------------------------------------------------

    def episodes(self) -> list[Anomaly]:
        """Every episode raised, pumping's included, in the order raised."""
        return sorted([*self.pumping.anomalies, *self.anomalies], key=lambda a: a.started_ms)

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per kind: episodes raised (those let go included), and how many are in
        progress."""
        out = {kind: (n, 0) for kind, n in self._let_go.items()}
        for a in self.episodes():
            raised, active = out[a.kind]
            out[a.kind] = (raised + 1, active + a.active)
        return out


def _start(row: Row) -> float:
    return row.start


def _rate(rows: list[Row]) -> float:
    """The conversion rate of ``rows``, with half an observation each way (as the test)."""
    exposure, converted = totals(rows)
    return (converted + 0.5) / (exposure + 1.0)
