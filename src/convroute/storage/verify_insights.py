"""What verifications came to (Verify Insights): counts and conversion rates by country,
network, route and channel, per period of time if asked, and what the fraud guard refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, insert, select

from convroute.domain.verify import VerificationStatus
from convroute.storage import schema as t

DIMENSIONS = ("country", "network", "route", "channel")

_v, _g = t.verifications.c, t.verify_guard_events.c


def record_guard(
    engine: Engine, account_id: str, decision: str, reason: str, country: str, at_ms: int
) -> None:
    """One refusal (or monitored verification) of the fraud guard."""
    with engine.begin() as conn:
        conn.execute(
            insert(t.verify_guard_events).values(
                account_id=account_id, decision=decision, reason=reason, country=country,
                at_ms=at_ms,
            )
        )  # fmt: skip


def _is(status: VerificationStatus) -> Any:
    return func.sum(case((_v.status == status.value, 1), else_=0))


def insights(
    conn: Connection,
    account_id: str | None,
    group_by: Sequence[str],
    from_ms: int,
    to_ms: int,
    now_ms: int,
    period_ms: int | None = None,
) -> dict[str, Any]:
    """Verifications started in ``[from_ms, to_ms)`` (of one account, or all), grouped;
    ``conversion_rate`` is approved / those whose outcome is known (approved, expired, out of
    attempts; canceled ones left out), None without any. With ``period_ms``, per period too."""
    dims = {
        "country": _v.country,
        "network": _v.network,
        "route": t.routes.c.name,
        "channel": _v.channel,
    }
    keys = [dims[g].label(g) for g in group_by]
    if period_ms is not None:
        keys.insert(0, ((_v.created_ms // period_ms) * period_ms).label("period_ms"))
    late = and_(_v.status == VerificationStatus.PENDING.value, _v.expires_ms <= now_ms)
    counts = [
        func.count().label("started"),
        func.sum(_v.sends).label("messages"),
        _is(VerificationStatus.APPROVED).label("approved"),
        (_is(VerificationStatus.EXPIRED) + func.sum(case((late, 1), else_=0))).label("expired"),
        _is(VerificationStatus.MAX_ATTEMPTS).label("max_attempts_reached"),
        _is(VerificationStatus.CANCELED).label("canceled"),
        func.avg(
            case(
                (_v.status == VerificationStatus.APPROVED.value, _v.updated_ms - _v.created_ms),
                else_=None,
            )
        ).label("approve_ms"),
    ]
    where = [_v.created_ms >= from_ms, _v.created_ms < to_ms]
    if account_id is not None:
        where.append(_v.account_id == account_id)
    query = (
        select(*keys, *counts)
        .select_from(t.verifications.outerjoin(t.routes, t.routes.c.id == _v.route_id))
        .where(and_(*where))
    )
    if keys:
        query = query.group_by(*keys).order_by(*keys)
    groups = []
    for row in conn.execute(query).mappings():
        item: dict[str, Any] = {
            k: row[k] for k in (*group_by, *(["period_ms"] if period_ms else []))
        }
        for name in ("started", "messages", "approved", "expired", "max_attempts_reached",
                     "canceled"):  # fmt: skip
            item[name] = int(row[name] or 0)
        known = item["approved"] + item["expired"] + item["max_attempts_reached"]
        item["conversion_rate"] = item["approved"] / known if known else None
        approve_ms = row["approve_ms"]
        item["seconds_to_approve"] = None if approve_ms is None else float(approve_ms) / 1000
        groups.append(item)
    guard_where = [_g.at_ms >= from_ms, _g.at_ms < to_ms]
    if account_id is not None:
        guard_where.append(_g.account_id == account_id)
    guard = [
        {"decision": r.decision, "reason": r.reason, "country": r.country, "count": r.n}
        for r in conn.execute(
            select(_g.decision, _g.reason, _g.country, func.count().label("n"))
            .where(and_(*guard_where))
            .group_by(_g.decision, _g.reason, _g.country)
            .order_by(func.count().desc(), _g.reason, _g.country)
        )
    ]
    return {"groups": groups, "guard": guard}
