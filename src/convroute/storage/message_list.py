"""An account's messages, newest first, a page at a time, with their delivery state: what a
provider's "list messages" (Plivo's ``messages.list``) reads."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, or_, select

from convroute.storage import schema as t

MAX_PAGE = 20  # Plivo's own bound on ``limit``


@dataclass(frozen=True, slots=True)
class Listed:
    """One message as a list shows it."""

    id: str
    src: str
    dst: str
    country: str
    sent_ms: int
    dlr_status: str | None
    status: str | None  # the conversion status, if any


def list_messages(
    conn: Connection,
    account_id: str,
    limit: int,
    offset: int,
    since_ms: int | None = None,
    until_ms: int | None = None,
    dlr_statuses: tuple[str | None, ...] | None = None,
) -> list[Listed]:
    """The account's messages sent in ``[since_ms, until_ms)``, newest first, ``limit`` from
    ``offset``; with ``dlr_statuses``, only those whose receipt says one of them (None: no
    receipt yet)."""
    m, s = t.messages.c, t.message_state.c
    query = (
        select(m.id, m.src, m.dst, m.country, m.sent_ms, s.dlr_status, s.status)
        .select_from(t.messages.outerjoin(t.message_state, s.message_id == m.id))
        .where(m.account_id == account_id)
        .order_by(m.sent_ms.desc(), m.seq.desc())
        .limit(limit)
        .offset(offset)
    )
    if since_ms is not None:
        query = query.where(m.sent_ms >= since_ms)
    if until_ms is not None:
        query = query.where(m.sent_ms < until_ms)
    if dlr_statuses is not None:
        named = [d for d in dlr_statuses if d is not None]
        if None in dlr_statuses:
            query = query.where(or_(s.dlr_status.in_(named), s.dlr_status.is_(None)))
        else:
            query = query.where(s.dlr_status.in_(named))
    return [Listed(*row) for row in conn.execute(query)]
