"""A ledger moved to another delay model (``LedgerSums.use_delay``): what its learner fitted
(``delay_learn``). The pending decisions' exposure is kept as straight lines between the
delay's levels (``ledger.py``), so each open decision's line is taken out under the old model
and put back under the new one, in the segment its age has reached there, and the segments'
cursors are found again. Settled decisions (exposure 1) and the change tests' settled rows do
not depend on the model, and the window does not move, so nothing else changes. O(open
decisions), a handful of times an hour."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from convroute.routing.arms import SETTLED_ENOUGH, segments, sent_ms_of
from convroute.routing.delay import ConversionDelay
from convroute.routing.delay_learn import DelayLearner

if TYPE_CHECKING:
    from convroute.routing.ledger import LedgerSums


def shape(ledger: LedgerSums, delay: ConversionDelay) -> None:
    """What ``ledger`` derives from its delay: ``F``'s segments (their lines, the age leaving
    each, what a move to the next adds), and the age by which the change tests' share of
    conversions has happened."""
    ledger.delay = delay
    ledger._bounds, ledger._alpha, ledger._beta = segments(delay)
    ledger._leave_at = [int(bound) for bound in ledger._bounds[1:]]
    ledger._moves = [
        (ledger._alpha[j + 1] - ledger._alpha[j], ledger._beta[j + 1] - ledger._beta[j])
        for j in range(len(ledger._alpha) - 1)
    ]
    ledger._young_ms = delay.age_ms(SETTLED_ENOUGH)


def learn(ledger: LedgerSums, learner: DelayLearner, now_ms: int) -> None:
    """Fit the delay to the conversions ``ledger`` saw, and use it where it moved."""
    delay = learner.fit(now_ms)
    if delay is not None:
        use_delay(ledger, delay, now_ms)


def use_delay(ledger: LedgerSums, delay: ConversionDelay, now_ms: int) -> None:
    """``ledger``'s estimates from ``now_ms`` on under ``delay`` (the same window)."""
    if delay.window_s != ledger.delay.window_s:
        raise ValueError("a ledger's delay model keeps its window")
    if now_ms > ledger._advanced_ms:
        ledger._advance(now_ms)
    at = ledger._advanced_ms
    old_alpha, old_beta = ledger._alpha, ledger._beta
    shape(ledger, delay)
    pending, cursors, leave_at = ledger._pending, ledger._cursors, ledger._leave_at
    last = len(cursors) - 1
    start = cursors[last]
    for j in range(last):  # the decisions before a cursor have left its segment
        limit = at - leave_at[j]
        cursors[j] = max(start, bisect.bisect_right(pending, limit, key=sent_ms_of))
    alpha, beta = ledger._alpha, ledger._beta
    for i in range(start, len(pending)):
        record = pending[i]
        if not record.open:
            continue
        segment = sum(1 for j in range(last) if i < cursors[j])
        d_alpha = alpha[segment] - old_alpha[record.segment]
        d_beta = beta[segment] - old_beta[record.segment]
        rel = ledger._rel(record.sent_ms)
        for arm, w in zip(record.arms, ledger._now(record)):  # noqa: B905 (one per memory)
            dbw = d_beta * w
            arm.lin_a += d_alpha * w
            arm.lin_b += dbw
            arm.lin_c += dbw * rel
        record.segment = segment
