"""The dashboard's read models: per route, messages and their outcomes in time buckets for
one destination and traffic; totals by route and by country over a range. Aggregated in the
database (``GROUP BY``), over every account or one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, case, func, select

from convroute.domain.statuses import ConversionStatus, DlrStatus
from convroute.storage import schema as t
from convroute.storage.views import of_destination

SERIES = ("messages", "final", "converted", "receipts", "delivered")


@dataclass
class RouteSeries:
    """One route's counts per bucket (each list as long as the buckets)."""

    route_id: str
    counts: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Total:
    """Messages, final ones, conversions and delivered receipts of one route to one country."""

    route_id: str
    country: str
    messages: int
    final: int
    converted: int
    delivered: int


def _outcomes() -> list[Any]:
    s = t.message_state.c
    return [
        func.count(),
        func.sum(case((s.final.is_(True), 1), else_=0)),
        func.sum(case((s.status == ConversionStatus.CONVERTED.value, 1), else_=0)),
        func.count(s.dlr_status),
        func.sum(case((s.dlr_status == DlrStatus.DELIVERED.value, 1), else_=0)),
    ]


def route_series(
    conn: Connection,
    country: str,
    network: str | None,
    traffic: str,
    from_ms: int,
    to_ms: int,
    bucket_ms: int,
    account_id: str | None = None,
) -> list[RouteSeries]:
    """Per route, for messages sent in [from_ms, to_ms) to the destination with the traffic
    (a type for 2FA traffic, ``other`` for the rest), the counts of ``SERIES`` per bucket."""
    m, s = t.messages.c, t.message_state.c
    bucket = (m.sent_ms - from_ms) // bucket_ms
    query = (
        select(m.route_id, bucket.label("b"), *_outcomes())
        .join(t.message_state, s.message_id == m.id)
        .where(m.country == country, m.sent_ms >= from_ms, m.sent_ms < to_ms)
        .group_by(m.route_id, bucket)
    )
    query = of_destination(query, network, traffic)
    if account_id is not None:
        query = query.where(m.account_id == account_id)
    n = max(1, -(-(to_ms - from_ms) // bucket_ms))
    out: dict[str, RouteSeries] = {}
    for row in conn.execute(query):
        if row.route_id is None or not 0 <= int(row.b) < n:
            continue
        series = out.setdefault(
            row.route_id, RouteSeries(row.route_id, {k: [0] * n for k in SERIES})
        )
        for name, value in zip(SERIES, row[2:], strict=True):
            series.counts[name][int(row.b)] = int(value or 0)
    return sorted(out.values(), key=lambda r: r.route_id)


def totals(
    conn: Connection, from_ms: int, to_ms: int, account_id: str | None = None
) -> list[Total]:
    """Messages sent in [from_ms, to_ms) and their outcomes, by route and country."""
    m, s = t.messages.c, t.message_state.c
    query = (
        select(m.route_id, m.country, *_outcomes())
        .join(t.message_state, s.message_id == m.id)
        .where(m.sent_ms >= from_ms, m.sent_ms < to_ms, m.route_id.is_not(None))
        .group_by(m.route_id, m.country)
    )
    if account_id is not None:
        query = query.where(m.account_id == account_id)
    return [
        Total(r.route_id, r.country, int(r[2]), int(r[3] or 0), int(r[4] or 0), int(r[6] or 0))
        for r in conn.execute(query)
    ]
