"""The forwarding statements of a write transaction: conversions still to report to the
provider a message went out through (``forwards``), and which messages such a route took."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from convroute.domain.models import Forward
from convroute.domain.statuses import ConversionStatus, MessageType, Method
from convroute.storage import schema as t
from convroute.storage.delivery import lease_due
from convroute.storage.engines import one_of


def _forward(row: Row[Any]) -> Forward:
    return Forward(
        id=row.id,
        message_id=row.message_id,
        account_id=row.account_id,
        route_id=row.route_id,
        upstream_id=row.upstream_id,
        status=ConversionStatus(row.status),
        type=MessageType(row.type),
        method=Method(row.method),
        event_ms=row.event_ms,
        tries=row.tries,
    )


class ForwardStatements:
    """Mixed into ``SqlTransaction``: ``conn`` is inside the transaction."""

    conn: Connection

    def insert_forwards(self, entries: Sequence[Forward], now_ms: int) -> None:
        if entries:
            self.conn.execute(
                insert(t.forwards),
                [
                    {
                        "id": f.id,
                        "message_id": f.message_id,
                        "account_id": f.account_id,
                        "route_id": f.route_id,
                        "upstream_id": f.upstream_id,
                        "status": f.status.value,
                        "type": f.type.value,
                        "method": f.method.value,
                        "event_ms": f.event_ms,
                        "created_ms": now_ms,
                        "tries": 0,
                        "due_ms": now_ms,
                    }
                    for f in entries
                ],
            )

    def claim_forwards(self, now_ms: int, limit: int, lease_ms: int) -> list[Forward]:
        rows = lease_due(self.conn, t.forwards, "id", now_ms, limit, lease_ms)
        return [_forward(r) for r in rows]

    def forward_entry(self, forward_id: str) -> Forward | None:
        row = self.conn.execute(select(t.forwards).where(t.forwards.c.id == forward_id)).first()
        return None if row is None else _forward(row)

    def delete_forwards(self, ids: Collection[str]) -> None:
        if ids:
            self.conn.execute(
                delete(t.forwards).where(one_of(self.conn, t.forwards.c.id, list(ids)))
            )

    def reschedule_forward(self, forward_id: str, due_ms: int | None, error: str) -> None:
        """Try it again at ``due_ms``; None: it failed for good."""
        self.conn.execute(
            update(t.forwards)
            .where(t.forwards.c.id == forward_id)
            .values(due_ms=due_ms, last_error=error[:500])
        )
