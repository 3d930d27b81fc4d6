"""Retention: messages older than the configured age are deleted with their state, routing
decision and events, in bounded batches through the writer (so each batch is one short
transaction between the others, never a long lock).

What is kept and for how long (docs/api.md, "Retention"): every message and everything about
it for ``retention_days`` after it was sent, and longer while its conversion window is open;
accounts, credentials, routes and windows are never purged. The router rebuilds from the last
day of the log, so a retention of at least ``MIN_RETENTION_DAYS`` never takes what it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from convroute.domain.commands import Purged, PurgeOld
from convroute.domain.errors import ValidationError
from convroute.services.ports import WriteTransaction

DAY_MS = 86_400_000
MIN_RETENTION_DAYS = 2.0
"""The router's rebuild reads the last day of the log; a day more is the margin."""


def check_retention(days: float) -> float:
    """A retention age in days: 0 (keep everything) or at least ``MIN_RETENTION_DAYS``."""
    if days != 0 and not MIN_RETENTION_DAYS <= days <= 100 * 365:
        raise ValidationError.field(
            "retention_days", f"must be 0 (keep everything) or {MIN_RETENTION_DAYS:g} days or more"
        )
    return days


def cutoff(now_ms: int, days: float) -> int:
    """Messages sent before this are due for purging."""
    return now_ms - int(check_retention(days) * DAY_MS)


def purge_old(tx: WriteTransaction, cmds: Sequence[PurgeOld], now_ms: int) -> list[Purged]:
    """Carry out each purge in the batch's transaction."""
    return [Purged(tx.purge_messages(c.before_ms, c.limit)) for c in cmds]


def purge_all(run: Callable[[PurgeOld], Purged], before_ms: int, batch: int) -> Purged:
    """Purge in batches of ``batch`` until none is left; the totals."""
    totals: dict[str, int] = {}
    while True:
        done = run(PurgeOld(before_ms, batch))
        for table, n in done.counts.items():
            totals[table] = totals.get(table, 0) + n
        if done.messages < batch:
            return Purged(totals)
