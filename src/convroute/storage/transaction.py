"""``WriteTransaction`` over one SQLAlchemy connection: bulk statements, one per batch."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, insert, select

from convroute.domain.commands import Nonce
from convroute.domain.folding import StatusEvent
from convroute.domain.models import (
    ConversionEvent,
    DlrEvent,
    Message,
    MessageState,
    Route,
    RouteDestination,
)
from convroute.domain.statuses import ConversionStatus, DlrStatus, EventSource, MessageType
from convroute.services.ports import EarlierSend, Loaded, RoutingDecision
from convroute.storage import schema as t
from convroute.storage.delivery import DeliveryStatements
from convroute.storage.engines import (
    chunks,
    driver_insert,
    driver_update,
    insert_new_keys,
    one_of,
)
from convroute.storage.forwards import ForwardStatements
from convroute.storage.secretbox import SecretBox


def state_from_row(row: Row[Any]) -> MessageState:
    """A ``message_state`` row as a domain value."""
    status = None
    if row.status is not None:
        status = StatusEvent(
            event_id=row.status_event_id,
            status=ConversionStatus(row.status),
            source=EventSource(row.status_source),
            event_ms=row.status_event_ms,
            received_ms=row.status_received_ms,
        )
    return MessageState(
        message_id=row.message_id,
        account_id=row.account_id,
        type=MessageType(row.type),
        status=status,
        dlr_status=DlrStatus(row.dlr_status) if row.dlr_status else None,
        dlr_ms=row.dlr_ms,
        window_due_ms=row.window_due_ms,
    )


def _state_values(state: MessageState, now_ms: int) -> dict[str, Any]:
    s = state.status
    return {
        "message_id": state.message_id,
        "account_id": state.account_id,
        "type": state.type.value,
        "status": s.status.value if s else None,
        "status_source": s.source.value if s else None,
        "status_event_ms": s.event_ms if s else None,
        "status_received_ms": s.received_ms if s else None,
        "status_event_id": s.event_id if s else None,
        "final": bool(s and (s.source is EventSource.WINDOW or s.status.is_final)),
        "dlr_status": state.dlr_status.value if state.dlr_status else None,
        "dlr_ms": state.dlr_ms,
        "window_due_ms": state.window_due_ms,
        "updated_ms": now_ms,
    }


def load_routes(conn: Connection, enabled_only: bool) -> list[Route]:
    """Routes with their destinations, by name."""
    query = select(t.routes).order_by(t.routes.c.name)
    if enabled_only:
        query = query.where(t.routes.c.enabled.is_(True))
    rows = conn.execute(query).all()
    dests: dict[str, list[RouteDestination]] = {r.id: [] for r in rows}
    for d in conn.execute(select(t.route_destinations)).all():
        if d.route_id in dests:
            dests[d.route_id].append(RouteDestination(d.country, d.price, d.network or None))
    return [
        Route(
            id=r.id,
            name=r.name,
            enabled=r.enabled,
            connector=r.connector,
            destinations=tuple(sorted(dests[r.id], key=lambda d: (d.country, d.network or ""))),
            created_ms=r.created_ms,
            config=json.loads(r.config or "{}"),
        )
        for r in rows
    ]


class SqlTransaction(DeliveryStatements, ForwardStatements):
    """The batch-oriented write port, over a connection already inside a transaction."""

    def __init__(self, conn: Connection, box: SecretBox | None = None) -> None:
        self.conn = conn
        self.box = box

    def enabled_routes(self) -> list[Route]:
        return load_routes(self.conn, enabled_only=True)

    def window_overrides(self, account_ids: Collection[str]) -> dict[str, dict[MessageType, int]]:
        out: dict[str, dict[MessageType, int]] = {}
        for chunk in chunks(sorted(account_ids)):
            query = select(t.account_windows).where(t.account_windows.c.account_id.in_(chunk))
            for row in self.conn.execute(query):
                out.setdefault(row.account_id, {})[MessageType(row.type)] = row.seconds
        return out

    def load_states(self, keys: Collection[tuple[str, str]]) -> Loaded:
        wanted = set(keys)
        loaded = Loaded({}, {}, {})
        latest: dict[str, int] = {}  # the forward target's time, where several
        s, m, r, u = t.message_state, t.messages.c, t.routes.c, t.upstream_ids.c
        for chunk in chunks(sorted({message_id for _, message_id in wanted})):
            query = (
                select(
                    s, r.name.label("route_name"), m.country.label("message_country"),
                    u.route_id.label("forward_route"), u.upstream_id, u.created_ms,
                )
                .select_from(
                    s.join(t.messages, m.id == s.c.message_id)
                    .outerjoin(t.routes, r.id == m.route_id)
                    .outerjoin(
                        t.upstream_ids, and_(u.message_id == s.c.message_id, u.forward.is_(True))
                    )
                )
                .where(one_of(self.conn, s.c.message_id, chunk))
            )  # fmt: skip
            for row in self.conn.execute(query):
                key = (row.account_id, row.message_id)
                if key not in wanted:  # asked for by its owner; by anyone else: not found
                    continue
                loaded.states[key] = state_from_row(row)
                if row.route_name is not None:
                    loaded.routes[row.message_id] = (row.route_name, row.message_country)
                if row.forward_route is not None and row.created_ms >= latest.get(
                    row.message_id, -1
                ):
                    latest[row.message_id] = row.created_ms
                    loaded.forwards[row.message_id] = (row.forward_route, row.upstream_id)
        return loaded

    def existing_conversions(
        self, keys: Collection[str]
    ) -> dict[str, tuple[str, ConversionStatus]]:
        out: dict[str, tuple[str, ConversionStatus]] = {}
        c = t.conversion_events.c
        for chunk in chunks(sorted(set(keys))):
            query = select(c.id, c.dedupe_key, c.status).where(
                one_of(self.conn, c.dedupe_key, chunk)
            )
            for row in self.conn.execute(query):
                out[row.dedupe_key] = (row.id, ConversionStatus(row.status))
        return out

    def recent_by_client_ref(
        self, refs: Collection[tuple[str, str]], since_ms: int
    ) -> dict[tuple[str, str], EarlierSend]:
        m, s = t.messages.c, t.message_state.c
        out: dict[tuple[str, str], EarlierSend] = {}
        by_account: dict[str, list[str]] = {}
        for account_id, ref in refs:
            by_account.setdefault(account_id, []).append(ref)
        for account_id, account_refs in by_account.items():
            for chunk in chunks(sorted(account_refs)):
                query = (
                    select(m.client_ref, m.route_id, s.status)
                    .join(t.message_state, s.message_id == m.id)
                    .where(m.account_id == account_id, m.client_ref.in_(chunk))
                    .where(m.sent_ms >= since_ms)
                    .order_by(m.sent_ms)
                )
                for row in self.conn.execute(query):  # the latest comes last
                    status = ConversionStatus(row.status) if row.status else None
                    out[(account_id, row.client_ref)] = EarlierSend(row.route_id or "", status)
        return out

    def due_windows(self, now_ms: int, limit: int) -> list[MessageState]:
        c = t.message_state.c
        query = (
            select(t.message_state)
            .where(c.window_due_ms.is_not(None), c.window_due_ms <= now_ms)
            .order_by(c.window_due_ms)
            .limit(limit)
        )
        if self.conn.dialect.name == "postgresql":
            # Instances sweeping together take disjoint rows instead of colliding.
            query = query.with_for_update(skip_locked=True)
        return [state_from_row(row) for row in self.conn.execute(query)]

    def claim_nonces(self, nonces: Sequence[Nonce]) -> set[str]:
        if not nonces:
            return set()
        rows = [{"key": n.key, "expires_ms": n.expires_ms} for n in nonces]
        earlier = sorted({n.earlier_key for n in nonces if n.earlier_key})
        recorded, found = insert_new_keys(self.conn, "used_nonces", "key", rows, earlier)
        claimed = {n.key for n in nonces if n.key in recorded and n.earlier_key not in found}
        self.release_nonces(recorded - claimed)
        return claimed

    def release_nonces(self, keys: Collection[str]) -> None:
        for chunk in chunks(sorted(keys)):
            self.conn.execute(
                delete(t.used_nonces).where(one_of(self.conn, t.used_nonces.c.key, chunk))
            )

    def purge_nonces(self, now_ms: int) -> int:
        done = self.conn.execute(delete(t.used_nonces).where(t.used_nonces.c.expires_ms < now_ms))
        return done.rowcount

    def insert_messages(self, messages: Sequence[Message]) -> None:
        driver_insert(
            self.conn,
            "messages",
            [
                {
                    "id": m.id,
                    "account_id": m.account_id,
                    "src": m.src,
                    "dst": m.dst,
                    "country": m.country,
                    "network": m.network,
                    "type": m.type.value,
                    "trackable": m.trackable,
                    "client_ref": m.client_ref,
                    "route_id": m.route_id,
                    "traffic_class": m.traffic_class.value,
                    "dialect": m.dialect.value,
                    "text_length": m.text_length,
                    "sent_ms": m.sent_ms,
                }
                for m in messages
            ],
        )

    def insert_decisions(self, decisions: Sequence[RoutingDecision]) -> None:
        driver_insert(
            self.conn,
            "routing_decisions",
            [
                {
                    "id": d.id,
                    "message_id": d.message_id,
                    "account_id": d.account_id,
                    "route_id": d.route_id,
                    "policy": d.policy,
                    "probability": d.probability,
                    "candidates": candidates_json(d.candidates, d.probabilities),
                    "decided_ms": d.decided_ms,
                    "attempt": d.attempt,
                    "reason": d.reason,
                }
                for d in decisions
            ],
        )

    def insert_conversions(self, events: Sequence[ConversionEvent]) -> None:
        rows = [
            {
                "id": e.id,
                "message_id": e.message_id,
                "account_id": e.account_id,
                "status": e.status.value,
                "type": e.type.value,
                "method": e.method.value,
                "event_ms": e.event_ms,
                "received_ms": e.received_ms,
                "source": e.source.value,
                "dialect": e.dialect.value if e.dialect else None,
                "traffic_class": e.traffic_class.value if e.traffic_class else None,
                "dedupe_key": e.dedupe_key,
                "raw": e.raw,
            }
            for e in events
        ]
        driver_insert(self.conn, "conversion_events", rows)

    def insert_dlrs(self, events: Sequence[DlrEvent]) -> None:
        self.conn.execute(
            insert(t.dlr_events),
            [
                {
                    "id": e.id,
                    "message_id": e.message_id,
                    "account_id": e.account_id,
                    "status": e.status.value,
                    "event_ms": e.event_ms,
                    "received_ms": e.received_ms,
                    "error_code": e.error_code,
                    "raw": e.raw,
                }
                for e in events
            ],
        )

    def insert_states(self, states: Sequence[MessageState], now_ms: int) -> None:
        driver_insert(self.conn, "message_state", [_state_values(s, now_ms) for s in states])

    def update_states(self, states: Sequence[MessageState], now_ms: int) -> None:
        if not states:
            return
        rows = []
        for s in states:
            values = _state_values(s, now_ms)
            del values["account_id"], values["type"]
            rows.append(values)
        driver_update(self.conn, "message_state", "message_id", rows)

    def purge_messages(self, before_ms: int, limit: int) -> dict[str, int]:
        """Delete up to ``limit`` of the oldest messages sent before ``before_ms`` whose
        conversion window is not open, with their state, routing decision and events; how
        many rows of each table went."""
        m, s = t.messages.c, t.message_state.c
        query = (
            select(m.id)
            .outerjoin(t.message_state, s.message_id == m.id)
            .where(m.sent_ms < before_ms, s.window_due_ms.is_(None))
            .order_by(m.sent_ms)
            .limit(limit)
        )
        ids = list(self.conn.execute(query).scalars())
        gone = dict.fromkeys(_PURGED, 0)
        for chunk in chunks(ids):
            for table in (
                t.conversion_events,
                t.dlr_events,
                t.routing_decisions,
                t.outbox,
                t.upstream_ids,
            ):
                done = self.conn.execute(delete(table).where(table.c.message_id.in_(chunk)))
                gone[table.name] += done.rowcount
            done = self.conn.execute(delete(t.message_state).where(s.message_id.in_(chunk)))
            gone["message_state"] += done.rowcount
            gone["messages"] += self.conn.execute(
                delete(t.messages).where(m.id.in_(chunk))
            ).rowcount
        return gone


_PURGED = (
    "messages",
    "message_state",
    "routing_decisions",
    "conversion_events",
    "dlr_events",
    "outbox",
    "upstream_ids",
)


def candidates_json(
    candidates: Sequence[tuple[str, float]], probabilities: Sequence[float] = ()
) -> str:
    """A decision's candidates as logged: ``[route id, price]`` each, or ``[route id, price,
    probability]`` where the policy gave every candidate's (offline evaluation reads both)."""
    if len(probabilities) == len(candidates):
        return json.dumps([[c[0], c[1], p] for c, p in zip(candidates, probabilities, strict=True)])
    return json.dumps([list(c) for c in candidates])
