"""The logged traffic an offline evaluation replays: every routing decision of a period (and
destination country) with its context, candidates, logged probability, and what came of its
message (the final status and the receipt, at their times)."""

from __future__ import annotations

import json

from sqlalchemy import Connection, select

from convroute.services.ports import LoggedRow
from convroute.storage import schema as t


def _candidates(text: str) -> tuple[tuple[str, float, float | None], ...]:
    out = []
    for item in json.loads(text):
        out.append((str(item[0]), float(item[1]), float(item[2]) if len(item) > 2 else None))
    return tuple(out)


def logged_rows(
    conn: Connection, since_ms: int, until_ms: int, country: str | None = None
) -> list[LoggedRow]:
    """The decisions taken in ``[since_ms, until_ms)`` (of ``country``'s messages), in the
    order they were taken."""
    d, m, s = t.routing_decisions.c, t.messages.c, t.message_state.c
    query = (
        select(
            d.message_id, d.attempt, d.route_id, d.policy, d.probability, d.candidates,
            d.decided_ms, m.country, m.network, m.type, m.traffic_class, s.status, s.final,
            s.status_event_ms, s.dlr_status, s.dlr_ms,
        )
        .join(t.messages, m.id == d.message_id)
        .outerjoin(t.message_state, s.message_id == d.message_id)
        .where(d.decided_ms >= since_ms, d.decided_ms < until_ms)
        .order_by(d.decided_ms, d.seq)
    )  # fmt: skip
    if country is not None:
        query = query.where(m.country == country)
    return [
        LoggedRow(
            r.message_id, r.attempt, r.country, r.network, r.type, r.traffic_class, r.route_id,
            r.policy, r.probability, _candidates(r.candidates), r.decided_ms, r.status,
            bool(r.final), r.status_event_ms, r.dlr_status, r.dlr_ms,
        )
        for r in conn.execute(query)
    ]  # fmt: skip
