"""The ledger's sums: every decision, its outcomes, and the per-(context, route) sums built
from them, with the piecewise-linear schedule of the pending decisions' exposure (what
``estimates.Ledger`` reads its estimates from).

A message sent ``a`` seconds ago has converted by now with probability ``mu * F(a)``, where
``F`` is the conversion-delay distribution (reaching 1 at the window's close). So every
decision contributes an *exposure* of ``F(age)`` — converted or not — until its window is
over (reported closed, or older than the window), then 1. ``F`` is kept as straight lines
between a few levels, so the pending decisions' exposure is three running sums per arm, moved
on as their ages cross a line's end.

Forgetting is by time: a decision sent at ``s`` weighs ``exp((s - now) / tau)``, so the
estimates follow change. Sums are kept scaled by ``exp((s - anchor) / tau)``; they are plain
sums, so the state is the same whatever order the outcomes arrive in.

DLRs are kept beside conversions, per route and context: the share of decisions whose
receipt said delivered, and how conversions split between delivered and not.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from contextlib import AbstractContextManager

from convroute.routing import ledger_state, provisional, relearn
from convroute.routing.arms import Arm, Key, Record, Scale, parents, sent_ms_of
from convroute.routing.changes import History
from convroute.routing.delay import ConversionDelay
from convroute.routing.delay_learn import DelayLearner
from convroute.routing.policy import Context, Outcome, OutcomeKind

_RANK: dict[OutcomeKind | None, int] = {
    None: 0,
    OutcomeKind.NOT_CONVERTED: 1,
    OutcomeKind.CONVERTED: 2,
    OutcomeKind.CANCELED: 3,
}


class LedgerSums:
    """Every decision's state and the per-(context, route) sums built from them, under one or
    more memories at once (``tau_s``, then each of ``also_tau_s``): the decisions, their
    outcomes and the schedule of their ages are kept once, only the sums are per memory.
    ``estimates.Ledger`` reads estimates off them."""

    # what the delay gives (``relearn.shape``): F's segments and the change tests' young age
    _bounds: list[float]
    _alpha: list[float]
    _beta: list[float]
    _leave_at: list[int]
    _moves: list[tuple[float, float]]
    _young_ms: float

    def __init__(
        self,
        delay: ConversionDelay | None = None,
        tau_s: float | None = 3600.0,
        prior: tuple[float, float] = (1.0, 1.0),
        retain_s: float = 7_200.0,
        also_tau_s: tuple[float, ...] = (),
        learn_delay: bool = False,
    ) -> None:
        self.delay = delay or ConversionDelay()
        # with ``learn_delay``, the delay is learned from the conversions seen, ``delay`` its
        # prior (delay_learn; the service's router learns on a grid: see routing.md)
        self.learner = DelayLearner(self.delay) if learn_delay and self.delay.window_s > 0 else None
        self._scales = [Scale(tau_s)] + [Scale(tau) for tau in also_tau_s]
        self.prior = prior
        # the sums per memory: ``arms`` is the first memory's
        self._arms: list[dict[Key, Arm]] = [{} for _ in self._scales]
        self.arms = self._arms[0]
        # the same arms by context, then route: what a decision reads, without a key to build
        self._by_context: list[dict[Context, dict[str, Arm]]] = [{} for _ in self._scales]
        # each key (one tuple) and its arms in every memory: what its decisions share
        self._places: dict[Key, tuple[Key, tuple[Arm, ...]]] = {}
        self.records: dict[str, Record] = {}
        # wider level -> the arms it sums, per memory
        self._members: list[dict[Key, list[Arm]]] = [{} for _ in self._scales]
        self.retain_ms = retain_s * 1000.0
        self._order: deque[Record] = deque()  # the decisions in recording order
        # F's segments: their lines, the age leaving each (``_leave_at``), and what moving from
        # a segment to the next adds to alpha and beta (``_moves``)
        relearn.shape(self, self.delay)
        # The decisions whose window is not over, in order of sending (one recorded late is
        # put in its place), and per segment of F a cursor: the decisions before it have aged
        # out of that segment. A decision's age leaves segment j at ``sent + leave_at[j]``, so
        # the decisions leaving a segment next are always those at its cursor.
        self._pending: list[Record] = []
        self._cursors = [0] * len(self._alpha)
        self._origin_ms: int | None = None
        self._advanced_ms = -(2**62)
        self._epoch = 0  # moves with every anchor: records' cached weights are then recomputed
        # decisions and conversions per slice of send time, for change points (kept on demand)
        self.history: History | None = None

    def keep_history(self, slice_s: float = 10.0, horizon_s: float = 3600.0) -> History:
        """Count decisions and conversions per (context, route) and ``slice_s`` of send
        time, for ``horizon_s`` (``since``); before the first decision."""
        if self.history is None:
            if self.records:
                raise ValueError("keep_history must be called before the first decision")
            self.history = History(slice_s * 1000.0, horizon_s * 1000.0)
        return self.history

    @property
    def moved_to_ms(self) -> int:
        """The latest time the ledger's decisions were aged to (a read or ``advance``)."""
        return self._advanced_ms

    @property
    def memories(self) -> int:
        """How many memories (time scales) the ledger keeps sums for."""
        return len(self._scales)

    def set_pace(self, pace: float) -> None:
        """Every time constant divided by ``pace`` (traffic played ``pace`` x real time)."""
        for scale in self._scales:
            if scale.tau_ms is not None:
                scale.tau_ms /= pace
        self.retain_ms /= pace
        if self.history is not None:
            self.history.set_pace(pace)
        if self.learner is not None:
            self.learner.set_pace(pace)

    def __getstate__(self) -> dict[str, object]:
        """What a checkpoint keeps of the ledger (``ledger_state``: its decisions in
        columns, not one object each)."""
        return ledger_state.state_of(self)

    def __setstate__(self, state: dict[str, object]) -> None:
        ledger_state.restore(self, state)

    # -- weights ---------------------------------------------------------------------------

    def _weights(self, at_ms: int) -> list[float]:
        """A new decision's weight in each memory (moving anchors forward where needed)."""
        out = []
        for k, scale in enumerate(self._scales):
            if scale.tau_ms is None:
                out.append(1.0)
                continue
            if scale.anchor_ms is None:
                scale.anchor_ms = at_ms
            exponent = (at_ms - scale.anchor_ms) / scale.tau_ms
            if exponent > 50:  # keep the scaled sums finite: move the anchor forward
                self._rebase(k, at_ms)
                exponent = 0.0
            out.append(math.exp(exponent))
        return out

    def _rebase(self, k: int, at_ms: int) -> None:
        scale = self._scales[k]
        assert scale.anchor_ms is not None
        assert scale.tau_ms is not None
        factor = math.exp(-(at_ms - scale.anchor_ms) / scale.tau_ms)
        scale.anchor_ms = at_ms
        self._epoch += 1
        for arm in self._arms[k].values():
            arm.sent *= factor
            arm.settled *= factor
            arm.converted *= factor
            arm.dlr_seen *= factor
            arm.dlr_delivered *= factor
            arm.cal_delivered *= factor
            arm.cal_delivered_conv *= factor
            arm.cal_failed *= factor
            arm.cal_failed_conv *= factor
            arm.lin_a *= factor
            arm.lin_b *= factor
            arm.lin_c *= factor
        # records' weights are derived again from their send time when next needed, so moving
        # the anchor costs O(routes), not O(decisions)

    def _forget(self, now_ms: int) -> None:
        """Drop decisions sent more than ``retain_s`` ago whose window is over: their
        evidence stays in the sums, but an outcome arriving for them now is ignored (a
        conversion reported hours late says little about the route today). One still open
        (its window not yet moved past: nothing read the ledger since) waits for the next
        time."""
        order, horizon, records = self._order, now_ms - self.retain_ms, self.records
        while order and order[0].sent_ms < horizon:
            record = order[0]
            if record.open:
                return
            order.popleft()
            if records.get(record.decision_id) is record:
                del records[record.decision_id]

    def advance(self, now_ms: int) -> None:
        """Let the ledger's time pass to ``now_ms``: open decisions age (those past their
        window settle) and the decisions past retention are let go. A replay calls it as it
        goes, so a day of log never holds more than the retention's decisions at once."""
        if now_ms > self._advanced_ms:
            self._advance(now_ms)
        self._forget(now_ms)
        self.learn_to(now_ms)

    def learn_to(self, now_ms: int) -> None:
        """The learner's fit where one is due at ``now_ms`` (time passing; a batch's outcomes)."""
        if self.learner is not None and self.learner.due(now_ms):
            relearn.learn(self, self.learner, now_ms)

    def use_delay(self, delay: ConversionDelay, now_ms: int) -> None:
        """Estimates from ``now_ms`` on under ``delay`` (``relearn``; the same window)."""
        relearn.use_delay(self, delay, now_ms)

    def _weights_of(self, record: Record) -> tuple[float, ...]:
        """The record's weight in each memory, relative to the current anchors."""
        if record.epoch != self._epoch:
            record.weights = tuple(s.weight(record.sent_ms) for s in self._scales)
            record.epoch = self._epoch
        return record.weights

    def _now(self, record: Record) -> tuple[float, ...]:
        """The record's weight in each memory (its ``arms``, in the same order), at the
        current anchor. Loops pair them with ``zip`` without ``strict``: both hold one item
        per memory, and a zip in a ``for`` without keywords compiles to a plain loop, where
        ``strict=True`` builds a zip object every time (noqa: B905)."""
        if record.epoch != self._epoch:
            self._weights_of(record)
        return record.weights

    # -- updates ---------------------------------------------------------------------------

    def record(self, decision_id: str, context: Context, route_id: str, sent_ms: int) -> None:
        """A decision was taken."""
        if decision_id in self.records:
            return
        self.learn_to(sent_ms)
        weights = self._weights(sent_ms)
        place = self._places.get((context, route_id))
        if place is None:
            place = self._place(context, route_id)
        key, arms = place
        record = self.records[decision_id] = Record(
            decision_id, key, sent_ms, arms, tuple(weights), self._epoch
        )
        if self.history is not None:
            record.slice = self.history.add(key, sent_ms)
        self._forget(sent_ms)
        self._order.append(record)
        rel, alpha, beta = self._rel(sent_ms), self._alpha[0], self._beta[0]
        for arm, weight in zip(arms, weights):  # noqa: B905
            arm.sent += weight
            beta_w = beta * weight
            arm.lin_a += alpha * weight
            arm.lin_b += beta_w
            arm.lin_c += beta_w * rel
        self._schedule(record)

    def _place(self, context: Context, route_id: str) -> tuple[Key, tuple[Arm, ...]]:
        """The key of (``context``, ``route_id``) and its arms, one per memory, made where
        new; shared by every decision of the key."""
        key = (context, route_id)
        arms = []
        for k, arms_k in enumerate(self._arms):
            arm = arms_k.get(key)
            if arm is None:
                arm = arms_k[key] = Arm()
                self._by_context[k].setdefault(context, {})[route_id] = arm
                # the wider levels a sparse destination borrows from are sums over these arms
                for wider in parents(context):
                    self._members[k].setdefault((wider, route_id), []).append(arm)
            arms.append(arm)
        place = self._places[key] = (key, tuple(arms))
        return place

    def observe(self, outcome: Outcome) -> None:
        """Fold an outcome in. Final outcomes are ranked (canceled > converted > not converted)
        and the highest seen counts, so the state does not depend on arrival order; a
        "delivered" receipt likewise beats a "failed" one."""
        record = self.records.get(outcome.decision_id)
        if record is None:
            return
        kind = outcome.kind
        if kind in (OutcomeKind.DLR_DELIVERED, OutcomeKind.DLR_FAILED):
            delivered = kind is OutcomeKind.DLR_DELIVERED
            if record.resolved is OutcomeKind.CANCELED:
                if record.dlr is None or delivered:
                    record.dlr = kind  # remembered, not counted: the decision left
            elif record.dlr is None:
                record.dlr = kind
                for arm, w in zip(record.arms, self._now(record)):  # noqa: B905
                    arm.dlr_seen += w
                    if delivered:
                        arm.dlr_delivered += w
            elif record.dlr is OutcomeKind.DLR_FAILED and delivered:
                record.dlr = kind  # a later "delivered" beats "failed" whatever the order
                for arm, w in zip(record.arms, self._now(record)):  # noqa: B905
                    arm.dlr_delivered += w
            return
        if (
            kind is OutcomeKind.CONVERTED
            and self.learner is not None
            and _RANK[record.resolved] < _RANK[kind]
        ):
            self.learner.add(record.sent_ms, outcome.at_ms)
        self._resolve(outcome.decision_id, record, kind)

    def cancel_sent_between(self, context: Context, start_ms: int, end_ms: int) -> int:
        """Take every decision for ``context`` sent in [start_ms, end_ms] out of the
        statistics, as if each had been canceled (traffic that said nothing about the routes,
        such as a pumping episode's); how many left."""
        left = 0
        for decision_id, record in self.records.items():
            if (
                record.key[0] == context
                and start_ms <= record.sent_ms <= end_ms
                and record.resolved is not OutcomeKind.CANCELED
            ):
                self._resolve(decision_id, record, OutcomeKind.CANCELED)
                left += 1
        return left

    def _resolve(self, decision_id: str, record: Record, kind: OutcomeKind) -> None:
        previous = record.resolved
        if _RANK[kind] <= _RANK[previous]:
            return
        record.resolved = kind
        if kind is OutcomeKind.NOT_CONVERTED:  # the window closed: exposure 1 from now on
            self._settle(decision_id, record)
            return
        if kind is OutcomeKind.CONVERTED:  # exposure stays F(age) until the window is over
            for arm, w in zip(record.arms, self._now(record)):  # noqa: B905
                arm.converted += w
            if record.slice is not None and self.history is not None:
                self.history.convert(record.slice)
            if not record.open:  # a late conversion after the window: recount its calibration
                self._calibrate(record, previous, -1.0)
                self._calibrate(record, kind, 1.0)
            return
        # canceled: the decision leaves the statistics entirely
        if record.slice is not None and self.history is not None:
            self.history.remove(record.slice, record.sent_ms, previous is OutcomeKind.CONVERTED)
        if record.open:
            self._leave(decision_id, record)
        else:
            for arm, w in zip(record.arms, self._now(record)):  # noqa: B905
                arm.settled -= w
            self._calibrate(record, previous, -1.0)  # take it back as it was counted
        for arm, w in zip(record.arms, self._now(record)):  # noqa: B905
            if previous is OutcomeKind.CONVERTED:
                arm.converted -= w
            arm.sent -= w
            if record.dlr is not None:
                arm.dlr_seen -= w
                if record.dlr is OutcomeKind.DLR_DELIVERED:
                    arm.dlr_delivered -= w

    def _settle(self, decision_id: str, record: Record) -> None:
        if record.open:
            self._leave(decision_id, record)
            for arm, w in zip(record.arms, self._now(record)):  # noqa: B905
                arm.settled += w
            self._calibrate(record, record.resolved, 1.0)

    def _calibrate(self, record: Record, resolved: OutcomeKind | None, sign: float) -> None:
        """Count a settled decision, resolved as ``resolved`` (sign 1), or take it back (-1) in
        the receipt calibration."""
        if record.dlr is None:
            return
        converted = resolved is OutcomeKind.CONVERTED
        delivered = record.dlr is OutcomeKind.DLR_DELIVERED
        for arm, weight in zip(record.arms, self._now(record)):  # noqa: B905
            w = sign * weight
            if delivered:
                arm.cal_delivered += w
                arm.cal_delivered_conv += w if converted else 0.0
            else:
                arm.cal_failed += w
                arm.cal_failed_conv += w if converted else 0.0

    # -- the pending decisions' exposure, by segment of F ----------------------------------------

    def _rel(self, sent_ms: int) -> float:
        if self._origin_ms is None:
            self._origin_ms = sent_ms
        return float(sent_ms - self._origin_ms)

    def _schedule(self, record: Record) -> None:
        """Put a new decision (in segment 0) among the pending ones. One sent long enough
        before the last ``_advance`` is moved at once through the segments it has left."""
        pending, sent = self._pending, record.sent_ms
        if not pending or pending[-1].sent_ms <= sent:
            at = len(pending)
            pending.append(record)
        else:  # recorded out of time order
            at = bisect.bisect_right(pending, sent, key=sent_ms_of)
            pending.insert(at, record)
        cursors, leave_at, last = self._cursors, self._leave_at, len(self._cursors) - 1
        for segment in range(last + 1):
            cursor = cursors[segment]
            # a cursor past it: a later decision has left the segment, so has this one
            if cursor < at or (cursor == at and sent + leave_at[segment] > self._advanced_ms):
                break  # it is in this segment (and behind no later cursor)
            cursors[segment] = cursor + 1
            if segment == last:
                self._settle(record.decision_id, record)
            else:
                self._move(record, segment)

    def _move(self, record: Record, segment: int) -> None:
        """An open decision's age leaves ``segment`` for the next one."""
        if not record.open:
            return
        d_alpha, d_beta = self._moves[segment]
        rel = self._rel(record.sent_ms)
        for arm, w in zip(record.arms, self._now(record)):  # noqa: B905
            dbw = d_beta * w
            arm.lin_a += d_alpha * w
            arm.lin_b += dbw
            arm.lin_c += dbw * rel
        record.segment = segment + 1

    def _leave(self, decision_id: str, record: Record) -> None:
        """Take an open decision's line out of its arms' pending exposure."""
        segment, rel = record.segment, self._rel(record.sent_ms)
        alpha, beta = self._alpha[segment], self._beta[segment]
        for arm, w in zip(record.arms, self._now(record)):  # noqa: B905
            beta_w = beta * -w
            arm.lin_a += alpha * -w
            arm.lin_b += beta_w
            arm.lin_c += beta_w * rel
        record.open = False

    def _advance(self, now_ms: int) -> None:
        """Move every open decision into the segment its age has reached by ``now_ms``;
        those past the window are settled (exposure 1). ``_move``, inlined: this runs at
        every decision and moves several."""
        self._advanced_ms = max(self._advanced_ms, now_ms)
        pending, cursors, leave_at = self._pending, self._cursors, self._leave_at
        n, last = len(pending), len(cursors) - 1
        origin, epoch = self._origin_ms or 0, self._epoch
        for segment in range(last + 1):
            i = cursors[segment]
            limit = now_ms - leave_at[segment]  # decisions sent by then have left the segment
            if i >= n or pending[i].sent_ms > limit:
                continue
            if segment == last:
                while i < n and pending[i].sent_ms <= limit:
                    record = pending[i]
                    i += 1
                    if record.open:
                        self._settle(record.decision_id, record)
                cursors[segment] = i
                continue
            # from the line of ``segment`` to the next one's: only the differences move
            d_alpha, d_beta = self._moves[segment]
            nxt = segment + 1
            while i < n:
                record = pending[i]
                sent = record.sent_ms
                if sent > limit:
                    break
                i += 1
                if not record.open:
                    continue  # settled or canceled since
                rel = float(sent - origin)
                if record.epoch != epoch:
                    self._weights_of(record)
                for arm, w in zip(record.arms, record.weights):  # noqa: B905 (same length)
                    dbw = d_beta * w
                    arm.lin_a += d_alpha * w
                    arm.lin_b += dbw
                    arm.lin_c += dbw * rel
                record.segment = nxt
            cursors[segment] = i
        done = cursors[last]
        if done >= 1024 and 2 * done >= n:  # drop the settled head (amortized O(1))
            del pending[:done]
            for segment in range(last + 1):
                cursors[segment] -= done

    def provisional(self, now_ms: int) -> AbstractContextManager[None]:
        """Reads inside see the ledger moved on to ``now_ms`` (as a decision then would, to
        the last bit), and the move is undone after (``provisional.moved``)."""
        return provisional.moved(self, now_ms)

    def _pending_exposure(self, arm: Arm, now_ms: int) -> float:
        if now_ms >= self._advanced_ms:
            if now_ms > self._advanced_ms:
                self._advance(now_ms)
            return max(0.0, arm.lin_a + self._rel(now_ms) * arm.lin_b - arm.lin_c)
        return self._exact_pending(arm, now_ms)

    def _exact_pending(self, arm: Arm, now_ms: int) -> float:
        # a read in the past (never in a simulation), or a read that must not advance: the
        # exact sum over the arm's open decisions (all in ``_pending``), changing nothing
        total = 0.0
        for record in self._pending[self._cursors[-1] :]:
            if not record.open:
                continue
            for k, candidate in enumerate(record.arms):
                if candidate is arm:
                    f = self.delay.exposure_at(now_ms - record.sent_ms)
                    total += self._weights_of(record)[k] * f
        return total
