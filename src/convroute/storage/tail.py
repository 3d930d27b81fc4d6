"""Reading the event log back for the router (``EventLog`` of ``services/router.py``).

Each log table has an integer ``seq``; a reader keeps, per table, the highest ``seq`` it has
read and asks for what lies above it. On PostgreSQL sequence values are handed out when rows
are inserted but become visible when their transaction commits, so a row may appear *below*
the high-water mark after it was passed (another instance's transaction committing late). The
reader therefore remembers the numbers it skipped (gaps) and asks for them again until they
appear or ``grace`` has passed (a rolled-back transaction leaves a gap forever). On SQLite,
writers are serialized and gaps never fill; the same code serves both.

Outcomes (receipts, conversions) are read before decisions: an outcome is only ever stored
after its message's decision has committed, so every outcome read has its decision in the
same read or an earlier one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, or_, select

from convroute.domain.statuses import ConversionStatus, DlrStatus, MessageType, TrafficClass
from convroute.services.ports import LogBatch, LoggedConversion, LoggedDecision, LoggedDlr
from convroute.storage import schema as t
from convroute.storage.engines import Engines, chunks
from convroute.storage.store import translate_errors

_MAX_GAPS = 20_000  # per table; beyond this the oldest are given up


class _Cursor:
    """Where a reader stands in one table: its high-water mark and the gaps below it."""

    def __init__(self) -> None:
        self.high: int | None = None  # None: nothing read yet (the first read rebuilds)
        self.gaps: dict[int, int] = {}  # seq -> when it was first missed (ms)

    def wanted(self, seq: Any) -> Any:
        """The WHERE clause for this table's new rows."""
        if self.high is None:
            return seq >= 0
        clauses = [seq > self.high]
        gaps = sorted(self.gaps)
        clauses += [seq.in_(chunk) for chunk in chunks(gaps)]
        return or_(*clauses)

    def advance(self, seqs: Iterable[int], now_ms: int, grace_ms: int, floor: int | None) -> None:
        """Record what was read: gaps filled, new gaps, the new high-water mark. ``floor`` is
        the table's highest seq on a first read that found nothing."""
        got = sorted(seqs)
        for s in got:
            self.gaps.pop(s, None)
        previous = self.high
        top = got[-1] if got else None
        if previous is None:
            # a first read: the rows below the window it read are not gaps, but the last few
            # numbers may belong to transactions still in flight
            self.high = top if top is not None else (floor or 0)
            seen = set(got)
            for s in range(max(1, self.high - 255), self.high + 1):
                if s not in seen:
                    self.gaps[s] = now_ms
            return
        if top is not None and top > previous:
            seen = set(got)
            for s in range(previous + 1, top):
                if s not in seen:
                    self.gaps[s] = now_ms
            self.high = top
        for s, since in list(self.gaps.items()):
            if now_ms - since > grace_ms:
                del self.gaps[s]
        if len(self.gaps) > _MAX_GAPS:
            for s in sorted(self.gaps)[: len(self.gaps) - _MAX_GAPS]:
                del self.gaps[s]


class SqlEventLog:
    """The event log of one database, read incrementally.

    The first ``poll`` reads the last ``horizon_ms`` of the log (what the router's memory
    holds: decisions older than a day are forgotten anyway); each later one reads what was
    appended since, plus any late-committed rows below the marks."""

    def __init__(
        self, engines: Engines, horizon_ms: int = 86_400_000, grace_ms: int = 60_000
    ) -> None:
        self.engines = engines
        self.horizon_ms = horizon_ms
        self.grace_ms = grace_ms
        self._cursors = {name: _Cursor() for name in ("decisions", "conversions", "dlrs")}

    def position(self) -> dict[str, Any]:
        """Each table's high-water mark and the numbers still missed below it."""
        return {
            name: {"high": c.high, "gaps": [[seq, ms] for seq, ms in sorted(c.gaps.items())]}
            for name, c in self._cursors.items()
        }

    def resume(self, position: Mapping[str, Any]) -> None:
        """Read on from a ``position`` (a checkpoint's); ValueError if it is not one."""
        cursors = {name: _Cursor() for name in self._cursors}
        try:
            for name, cursor in cursors.items():
                high = position[name]["high"]
                cursor.high = None if high is None else int(high)
                cursor.gaps = {int(seq): int(ms) for seq, ms in position[name]["gaps"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a position in the log: {exc}") from exc
        self._cursors = cursors

    def poll(self, now_ms: int) -> LogBatch:
        cutoff = now_ms - self.horizon_ms
        with translate_errors(), self.engines.reader.connect() as conn:
            dlrs = self._outcomes(conn, "dlrs", t.dlr_events, cutoff, now_ms)
            conversions = self._outcomes(conn, "conversions", t.conversion_events, cutoff, now_ms)
            decisions = self._decisions(conn, cutoff, now_ms)
        return LogBatch(
            decisions=decisions,
            conversions=[
                LoggedConversion(r.message_id, ConversionStatus(r.status), r.event_ms)
                for r in conversions
            ],
            dlrs=[LoggedDlr(r.message_id, DlrStatus(r.status), r.event_ms) for r in dlrs],
        )

    def _floor(self, conn: Connection, table: Table, cursor: _Cursor) -> int | None:
        if cursor.high is not None:
            return None
        return conn.execute(select(func.max(table.c.seq))).scalar()

    def _outcomes(
        self, conn: Connection, name: str, table: Table, cutoff: int, now_ms: int
    ) -> Sequence[Any]:
        """New rows of an outcome table (receipts or conversion events)."""
        c, cursor = table.c, self._cursors[name]
        floor = self._floor(conn, table, cursor)
        rows = conn.execute(
            select(c.seq, c.message_id, c.status, c.event_ms)
            .where(cursor.wanted(c.seq), c.received_ms >= cutoff)
            .order_by(c.seq)
        ).all()
        cursor.advance((r.seq for r in rows), now_ms, self.grace_ms, floor)
        return rows

    def _decisions(self, conn: Connection, cutoff: int, now_ms: int) -> list[LoggedDecision]:
        d, m, cursor = t.routing_decisions.c, t.messages.c, self._cursors["decisions"]
        floor = self._floor(conn, t.routing_decisions, cursor)
        rows = conn.execute(
            select(
                d.seq,
                d.message_id,
                d.route_id,
                m.country,
                m.network,
                m.type,
                m.traffic_class,
                m.sent_ms,
                d.attempt,
                d.decided_ms,
            )
            .join(t.messages, m.id == d.message_id)
            .where(cursor.wanted(d.seq), d.decided_ms >= cutoff)
            .order_by(d.seq)
        ).all()
        cursor.advance((r.seq for r in rows), now_ms, self.grace_ms, floor)
        return [
            LoggedDecision(
                message_id=r.message_id,
                route_id=r.route_id,
                country=r.country,
                network=r.network,
                type=MessageType(r.type),
                traffic_class=TrafficClass(r.traffic_class),
                # a failover sent it when it was routed again
                sent_ms=r.sent_ms if not r.attempt else r.decided_ms,
                attempt=r.attempt,
            )
            for r in rows
        ]
