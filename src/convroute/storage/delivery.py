"""The delivery statements of a write transaction: the outbox (messages still to hand to
their route, their payload encrypted with the secret box) and the upstream's ids."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Row, Table, delete, insert, select, update

from convroute.domain.destinations import Destination
from convroute.domain.models import AccountRouting, Submission
from convroute.domain.statuses import MessageType, TrafficClass
from convroute.storage import schema as t
from convroute.storage.account_routing import ROUTING_COLUMNS, routing_of_row
from convroute.storage.engines import driver_insert, one_of
from convroute.storage.secretbox import SecretBox

_SECRET = ("src", "dst", "text", "client_ref")  # what only the payload holds, encrypted


def lease_due(
    conn: Connection, table: Table, key: str, now_ms: int, limit: int, lease_ms: int
) -> list[Row[Any]]:
    """Up to ``limit`` rows of a queue table (``due_ms``, ``tries``) due by ``now_ms``, the
    soonest first, leased to the caller for ``lease_ms`` (their tries counted); on
    PostgreSQL locked rows are skipped, so instances claim disjoint rows."""
    c = table.c
    query = select(table).where(c.due_ms <= now_ms).order_by(c.due_ms).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    if rows:
        conn.execute(
            update(table)
            .where(one_of(conn, c[key], [getattr(r, key) for r in rows]))
            .values(due_ms=now_ms + lease_ms, tries=c.tries + 1)
        )
    return list(rows)


class DeliveryStatements:
    """Mixed into ``SqlTransaction``: ``conn`` is inside the transaction, ``box`` encrypts."""

    conn: Connection
    box: SecretBox | None

    def _sealed(self, entry: Submission) -> str:
        if self.box is None:
            raise RuntimeError("the outbox needs the secret box (the store was made without)")
        payload = {name: getattr(entry, name) for name in _SECRET}
        payload.update(country=entry.country, network=entry.network, sent_ms=entry.sent_ms)
        return self.box.encrypt(json.dumps(payload))

    def _entry(self, row: Row[Any]) -> Submission:
        assert self.box is not None
        payload = json.loads(self.box.decrypt(row.payload))
        return Submission(
            message_id=row.message_id,
            account_id=row.account_id,
            route_id=row.route_id,
            src=payload["src"],
            dst=payload["dst"],
            text=payload["text"],
            country=payload["country"],
            network=payload["network"],
            client_ref=payload["client_ref"],
            sent_ms=payload["sent_ms"],
            expires_ms=row.expires_ms,
            attempt=row.attempt,
            tried=tuple(json.loads(row.tried)),
            tries=row.tries,
        )

    def insert_submissions(self, entries: Sequence[Submission], due_ms: int) -> None:
        if not entries:
            return
        driver_insert(
            self.conn,
            "outbox",
            [
                {
                    "message_id": e.message_id,
                    "account_id": e.account_id,
                    "route_id": e.route_id,
                    "attempt": e.attempt,
                    "tried": json.dumps(list(e.tried)),
                    "payload": self._sealed(e),
                    "tries": e.tries,
                    "due_ms": due_ms,
                    "expires_ms": e.expires_ms,
                }
                for e in entries
            ],
        )

    def claim_submissions(self, now_ms: int, limit: int, lease_ms: int) -> list[Submission]:
        rows = lease_due(self.conn, t.outbox, "message_id", now_ms, limit, lease_ms)
        return [self._entry(r) for r in rows]

    def submission(self, message_id: str) -> Submission | None:
        row = self.conn.execute(select(t.outbox).where(t.outbox.c.message_id == message_id)).first()
        return None if row is None else self._entry(row)

    def delete_submissions(self, message_ids: Collection[str]) -> None:
        if message_ids:
            self.conn.execute(
                delete(t.outbox).where(one_of(self.conn, t.outbox.c.message_id, list(message_ids)))
            )

    def reschedule_submission(self, message_id: str, due_ms: int, error: str) -> None:
        self.conn.execute(
            update(t.outbox)
            .where(t.outbox.c.message_id == message_id)
            .values(due_ms=due_ms, last_error=error[:500])
        )

    def reroute_submission(self, entry: Submission, due_ms: int) -> None:
        self.conn.execute(
            update(t.outbox)
            .where(t.outbox.c.message_id == entry.message_id)
            .values(
                route_id=entry.route_id,
                attempt=entry.attempt,
                tried=json.dumps(list(entry.tried)),
                due_ms=due_ms,
            )
        )
        self.conn.execute(
            update(t.messages)
            .where(t.messages.c.id == entry.message_id)
            .values(route_id=entry.route_id)
        )

    def insert_upstream_ids(
        self,
        route_id: str,
        message_id: str,
        account_id: str,
        ids: Sequence[str],
        now_ms: int,
        forward: bool = False,
    ) -> None:
        """Keep the ids the route's upstream gave the message; with ``forward``, its
        conversions are forwarded under the first."""
        u = t.upstream_ids.c
        known = set(
            self.conn.execute(
                select(u.upstream_id).where(
                    u.route_id == route_id, one_of(self.conn, u.upstream_id, list(ids))
                )
            ).scalars()
        )
        rows = [
            {
                "route_id": route_id,
                "upstream_id": i,
                "message_id": message_id,
                "account_id": account_id,
                "created_ms": now_ms,
                "forward": forward and n == 0,
            }
            for n, i in enumerate(dict.fromkeys(ids))
            if i not in known
        ]
        if rows:
            self.conn.execute(insert(t.upstream_ids), rows)

    def routing_of(
        self, message_id: str
    ) -> tuple[Destination, MessageType, TrafficClass, AccountRouting] | None:
        m = t.messages.c
        row = self.conn.execute(
            select(m.dst, m.country, m.network, m.type, m.traffic_class, *ROUTING_COLUMNS)
            .join(t.accounts, t.accounts.c.id == m.account_id)
            .where(m.id == message_id)
        ).first()
        if row is None:
            return None
        dest = Destination(row.dst, row.country, row.network)
        return dest, MessageType(row.type), TrafficClass(row.traffic_class), routing_of_row(row)

    def message_of_upstream(self, route_id: str, upstream_id: str) -> tuple[str, str] | None:
        u = t.upstream_ids.c
        row = self.conn.execute(
            select(u.message_id, u.account_id).where(
                u.route_id == route_id, u.upstream_id == upstream_id
            )
        ).first()
        return None if row is None else (row.message_id, row.account_id)
