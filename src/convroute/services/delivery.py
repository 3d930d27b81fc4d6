"""The delivery use cases: a message is handed to its route at least once.

A message is written to the outbox in the commit that records it (``send_messages``); the
dispatcher submits it and clears the entry once the route took it (``SubmissionDone``). A
route that refuses it makes the message go out at once over the next-best route that serves
the destination, never back to one that refused it, as a new logged decision with its
probability and the reason; the refused decision learns the failure (``SubmissionRefused``).
An entry nobody cleared (a crash between commit and submit, a lapsed lease) is claimed again
(``ClaimSubmissions``) until the message's window closes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from convroute.domain.commands import (
    Claimed,
    ClaimSubmissions,
    Refusal,
    SubmissionCleared,
    SubmissionDone,
    SubmissionRefused,
)
from convroute.domain.errors import ConvrouteError, NoRouteError
from convroute.services.ports import RoutingDecision, WriteTransaction
from convroute.services.router import LiveRouter

LEASE_MS = 15_000
"""How long an instance holds an entry it is submitting before another may claim it (longer
than any connector's own timeout, so a slow submission is not sent twice)."""

UNTRACKED_TTL_MS = 900_000
"""How long a message that is not trackable may still be sent (a trackable one: its window)."""


def retry_delay_ms(tries: int) -> int:
    """The back-off before a refused message is tried again on the same route: 1 s, 2 s,
    4 s ... at most 30 s."""
    return int(min(30_000, 1000 * 2 ** max(0, tries - 1)))


def submissions_done(
    tx: WriteTransaction, cmds: Sequence[SubmissionDone], now_ms: int
) -> list[SubmissionCleared]:
    """Clear the entries of messages their route took; keep the upstream's ids for them."""
    for c in cmds:
        if c.upstream_ids:
            tx.insert_upstream_ids(
                c.route_id, c.message_id, c.account_id, c.upstream_ids, now_ms, c.forward
            )
    tx.delete_submissions({c.message_id for c in cmds})
    return [SubmissionCleared(c.message_id) for c in cmds]


def refusals(
    tx: WriteTransaction,
    cmds: Sequence[SubmissionRefused],
    now_ms: int,
    *,
    router: LiveRouter,
    lease_ms: int = LEASE_MS,
) -> list[Refusal | ConvrouteError]:
    """Route each refused message again, retry it later, or give it up."""
    routes = tx.enabled_routes()
    names = {r.id: r.name for r in routes}
    out: list[Refusal | ConvrouteError] = []
    for c in cmds:
        entry = tx.submission(c.message_id)
        if entry is None or entry.route_id != c.route_id:
            out.append(Refusal(c.message_id, stale=True))  # cleared or moved on meanwhile
            continue
        if now_ms >= entry.expires_ms:
            tx.delete_submissions([c.message_id])
            out.append(Refusal(c.message_id, gave_up=True))
            continue
        tried = (*entry.tried, c.route_id)
        routing = tx.routing_of(c.message_id)
        try:
            if routing is None:
                raise NoRouteError("the message is gone")
            dest, message_type, traffic_class, own = routing
            choice = router.choose(
                routes, dest, message_type, traffic_class, now_ms, exclude=tried, routing=own
            )
        except NoRouteError:
            if c.transient:  # the same route again, after a back-off, while it is useful
                due = now_ms + retry_delay_ms(entry.tries)
                if due < entry.expires_ms:
                    tx.reschedule_submission(c.message_id, due, f"{c.code}: {c.reason}")
                    out.append(Refusal(c.message_id, retry_ms=due))
                    continue
            tx.delete_submissions([c.message_id])
            out.append(Refusal(c.message_id, gave_up=True))
            continue
        moved = dataclasses.replace(
            entry, route_id=choice.route.id, attempt=entry.attempt + 1, tried=tried
        )
        tx.reroute_submission(moved, now_ms + lease_ms)
        tx.insert_decisions(
            [
                RoutingDecision.of(
                    choice,
                    c.message_id,
                    entry.account_id,
                    now_ms,
                    attempt=moved.attempt,
                    reason=f"failover: {names.get(c.route_id, c.route_id)} refused it "
                    f"({c.code}: {c.reason})"[:500],
                )
            ]
        )
        out.append(Refusal(c.message_id, moved))
    return out


def claim_submissions(
    tx: WriteTransaction, cmds: Sequence[ClaimSubmissions], now_ms: int
) -> list[Claimed]:
    """Lease the due entries (once for the whole batch); give up those whose time is over."""
    limit = max(c.limit for c in cmds)
    lease = max(c.lease_ms for c in cmds)
    due = tx.claim_submissions(now_ms, limit, lease)
    expired = tuple(e for e in due if now_ms >= e.expires_ms)
    if expired:
        tx.delete_submissions([e.message_id for e in expired])
    live = tuple(e for e in due if now_ms < e.expires_ms)
    return [Claimed(live, expired) if i == 0 else Claimed() for i in range(len(cmds))]
