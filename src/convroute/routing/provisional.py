"""Reads of a ledger as of a later time that change nothing (``LedgerSums.provisional``):
the ledger is moved on to that time for the read, as a decision then would move it, to the
last bit, and the move is undone after, so an operator's read at any time changes nothing.
Only what the move touches is kept aside: the decisions whose age leaves a segment by then
and their arms."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from convroute.routing.arms import Record

if TYPE_CHECKING:
    from convroute.routing.ledger import LedgerSums


@contextmanager
def moved(ledger: LedgerSums, now_ms: int) -> Iterator[None]:
    """Reads inside see the ledger moved on to ``now_ms`` (as a decision then would, to
    the last bit), and the move is undone after: an operator's read at any time changes
    nothing. Only what the move touches is kept aside: the decisions whose age leaves a
    segment by ``now_ms`` and their arms."""
    if now_ms <= ledger._advanced_ms:
        yield
        return
    pending, cursors, leave_at = ledger._pending, ledger._cursors, ledger._leave_at
    n = len(pending)
    records: dict[int, tuple[Record, int, bool]] = {}
    for segment in range(len(cursors)):
        limit, i = now_ms - leave_at[segment], cursors[segment]
        while i < n and pending[i].sent_ms <= limit:
            record = pending[i]
            records[id(record)] = (record, record.segment, record.open)
            i += 1
    arms = {id(a): (a, a.copy()) for r, _, _ in records.values() for a in r.arms}
    kept = (list(cursors), list(pending), ledger._advanced_ms)
    ledger._advance(now_ms)
    try:
        yield
    finally:
        for arm, before in arms.values():
            arm.restore(before)
        for record, segment, was_open in records.values():
            record.segment, record.open = segment, was_open
        ledger._cursors[:], ledger._pending[:], ledger._advanced_ms = kept
