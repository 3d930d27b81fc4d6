"""Read models: one message with its events, and conversion statistics. Plain queries over the
current-state tables (reads never go through the writer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, case, func, select

from convroute.domain.models import ConversionEvent, DlrEvent, Message, MessageState
from convroute.domain.statuses import (
    ConversionStatus,
    Dialect,
    DlrStatus,
    EventSource,
    MessageType,
    Method,
    TrafficClass,
)
from convroute.services.ports import Activity
from convroute.storage import schema as t
from convroute.storage.transaction import state_from_row

STATS_DIMENSIONS = ("country", "network", "type", "route", "traffic_class", "dialect")


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message, its current state, its route's name and all its events, oldest first."""

    message: Message
    state: MessageState
    route_name: str | None
    conversions: tuple[ConversionEvent, ...]
    dlrs: tuple[DlrEvent, ...]
    routing: tuple[RoutedAttempt, ...] = ()  # its routing decisions: one, more on failover


@dataclass(frozen=True, slots=True)
class RoutedAttempt:
    """A routing decision of a message: the route, its probability, and for a failover why."""

    route_id: str
    route_name: str | None
    probability: float
    attempt: int
    reason: str | None
    decided_ms: int


def get_message(conn: Connection, account_id: str, message_id: str) -> MessageView | None:
    """The account's message, or None (also when it is another account's)."""
    m = t.messages.c
    row = conn.execute(
        select(t.messages, t.routes.c.name.label("route_name"))
        .select_from(t.messages.outerjoin(t.routes, t.routes.c.id == m.route_id))
        .where(m.id == message_id, m.account_id == account_id)
    ).first()
    if row is None:
        return None
    state_row = conn.execute(
        select(t.message_state).where(t.message_state.c.message_id == message_id)
    ).one()
    message = Message(
        id=row.id,
        account_id=row.account_id,
        src=row.src,
        dst=row.dst,
        country=row.country,
        network=row.network,
        type=MessageType(row.type),
        trackable=row.trackable,
        client_ref=row.client_ref,
        route_id=row.route_id,
        traffic_class=TrafficClass(row.traffic_class),
        dialect=Dialect(row.dialect),
        text_length=row.text_length,
        sent_ms=row.sent_ms,
    )
    ce = t.conversion_events.c
    conversions = tuple(
        ConversionEvent(
            id=r.id,
            message_id=r.message_id,
            account_id=r.account_id,
            status=ConversionStatus(r.status),
            type=MessageType(r.type),
            method=Method(r.method),
            event_ms=r.event_ms,
            received_ms=r.received_ms,
            source=EventSource(r.source),
            dialect=Dialect(r.dialect) if r.dialect else None,
            traffic_class=TrafficClass(r.traffic_class) if r.traffic_class else None,
            dedupe_key=r.dedupe_key,
            raw=r.raw,
        )
        for r in conn.execute(
            select(t.conversion_events).where(ce.message_id == message_id).order_by(ce.seq)
        )
    )
    de = t.dlr_events.c
    dlrs = tuple(
        DlrEvent(
            id=r.id,
            message_id=r.message_id,
            account_id=r.account_id,
            status=DlrStatus(r.status),
            event_ms=r.event_ms,
            received_ms=r.received_ms,
            error_code=r.error_code,
            raw=r.raw,
        )
        for r in conn.execute(
            select(t.dlr_events).where(de.message_id == message_id).order_by(de.seq)
        )
    )
    d = t.routing_decisions.c
    routing = tuple(
        RoutedAttempt(r.route_id, r.name, r.probability, r.attempt, r.reason, r.decided_ms)
        for r in conn.execute(
            select(d.route_id, t.routes.c.name, d.probability, d.attempt, d.reason, d.decided_ms)
            .select_from(t.routing_decisions.outerjoin(t.routes, t.routes.c.id == d.route_id))
            .where(d.message_id == message_id)
            .order_by(d.seq)
        )
    )
    return MessageView(
        message, state_from_row(state_row), row.route_name, conversions, dlrs, routing
    )


_REPORTED = [s for s in ConversionStatus if s.reward is not None]


def conversion_stats(
    conn: Connection,
    account_id: str,
    group_by: Sequence[str],
    from_ms: int | None,
    to_ms: int | None,
) -> list[dict[str, Any]]:
    """Counts per group of the account's messages sent in [from, to), with conversion rates.

    ``conversion_rate`` is converted / messages with a reward-bearing final status (canceled
    messages and pending ones are left out); None when there are none.
    """
    m, s = t.messages.c, t.message_state.c
    dims = {
        "country": m.country,
        "network": m.network,
        "type": m.type,
        "route": t.routes.c.name,
        "traffic_class": m.traffic_class,
        "dialect": m.dialect,
    }
    keys = [dims[g].label(g) for g in group_by]
    counts = [
        func.count().label("messages"),
        func.sum(case((m.trackable.is_(True), 1), else_=0)).label("trackable"),
        func.sum(case((s.final.is_(False), 1), else_=0)).label("pending"),
        *[
            func.sum(case((s.status == st.value, 1), else_=0)).label(st.value)
            for st in ConversionStatus
        ],
    ]
    where = [m.account_id == account_id]
    if from_ms is not None:
        where.append(m.sent_ms >= from_ms)
    if to_ms is not None:
        where.append(m.sent_ms < to_ms)
    query = (
        select(*keys, *counts)
        .select_from(
            t.messages.join(t.message_state, s.message_id == m.id).outerjoin(
                t.routes, t.routes.c.id == m.route_id
            )
        )
        .where(and_(*where))
    )
    if keys:
        query = query.group_by(*keys).order_by(*keys)
    out = []
    for row in conn.execute(query).mappings():
        item = {k: (int(v or 0) if k not in group_by else v) for k, v in row.items()}
        if item["messages"] == 0:
            continue
        reported = sum(item[st.value] for st in _REPORTED)
        item["reported"] = reported
        item["conversion_rate"] = item["converted"] / reported if reported else None
        out.append(item)
    return out


RECENT_WINDOWS = (("5m", 300_000), ("1h", 3_600_000), ("24h", 86_400_000))


def of_destination(query: Select[Any], network: str | None, traffic: str) -> Select[Any]:
    """``query`` over messages, kept to a network (None: any) and to the router's traffic:
    a type for 2FA traffic, ``other`` for everything of non-2FA credentials and type other."""
    m = t.messages.c
    if network is not None:
        query = query.where(m.network == network)
    if traffic == MessageType.OTHER.value:
        return query.where(
            (m.traffic_class == TrafficClass.OTHER.value) | (m.type == MessageType.OTHER.value)
        )
    return query.where(m.traffic_class == TrafficClass.TWO_FA.value, m.type == traffic)


def route_activity(
    conn: Connection,
    country: str,
    network: str | None,
    traffic: str,
    now_ms: int,
    windows: Sequence[tuple[str, int]] = RECENT_WINDOWS,
) -> dict[str, dict[str, Activity]]:
    """Per route, per recent window: messages sent to the destination with the router's
    traffic (a type for 2FA traffic, ``other`` for the rest; see ``services/router.py``),
    how many converted and how many have a final status, and what their receipts said.
    Counts over every account: route quality is the installation's."""
    m, s = t.messages.c, t.message_state.c
    since = now_ms - max(ms for _, ms in windows)
    query = (
        select(m.route_id, m.sent_ms, s.status, s.final, s.dlr_status)
        .join(t.message_state, s.message_id == m.id)
        .where(m.country == country, m.sent_ms >= since, m.sent_ms <= now_ms)
    )
    query = of_destination(query, network, traffic)
    counts: dict[str, dict[str, list[int]]] = {}
    for row in conn.execute(query):
        for name, width in windows:
            if row.sent_ms < now_ms - width:
                continue
            w = counts.setdefault(row.route_id, {}).setdefault(name, [0, 0, 0, 0, 0])
            w[0] += 1
            w[1] += 1 if row.final else 0
            w[2] += 1 if row.status == ConversionStatus.CONVERTED.value else 0
            if row.dlr_status is not None:
                w[3] += 1
                w[4] += 1 if row.dlr_status == DlrStatus.DELIVERED.value else 0
    return {
        route: {name: Activity(*w) for name, w in per_window.items()}
        for route, per_window in counts.items()
    }


def networks_seen(conn: Connection, country: str, since_ms: int) -> list[str]:
    """The networks of messages sent to ``country`` since ``since_ms`` (routing is kept per
    network where the number's network is known)."""
    m = t.messages.c
    query = (
        select(m.network)
        .where(m.country == country, m.sent_ms >= since_ms, m.network.is_not(None))
        .distinct()
    )
    return sorted(r[0] for r in conn.execute(query))
