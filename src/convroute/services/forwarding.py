"""Conversions forwarded upstream: a conversion a client reports about a message that went
out through a provider route with ``forward_conversions`` is reported to that provider too
(Plivo Conversion Feedback, Vonage's Conversion API, Twilio Message Feedback, Bird
conversions), so the provider's own routing learns from it.

The forward is written in the commit that records the conversion (``new_forwards``), so it
survives a crash; the forwarder claims due forwards (``ClaimForwards``, leased), reports
each, and clears it (``ForwardDone``) or backs off (``ForwardFailed``): 1 s, 2 s, 4 s ... at
most 5 min, for ``MAX_TRIES`` tries; a forward the provider refuses outright (a 4xx), or
that ran out of tries, is kept as failed (``/metrics`` counts it). Each conversion event is
forwarded once: its entry is keyed by the event's id and goes in the commit that learns the
provider took it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from convroute.domain.commands import (
    ClaimForwards,
    ForwardDone,
    ForwardFailed,
    ForwardsClaimed,
    ForwardSettled,
)
from convroute.domain.models import ConversionEvent, Forward
from convroute.services.ports import WriteTransaction

FORWARD_LEASE_MS = 30_000
"""How long an instance holds a forward it is reporting (longer than a provider's timeout)."""

MAX_TRIES = 30
"""Tries before a forward that keeps failing is given up (about two hours of back-off)."""


def forward_delay_ms(tries: int) -> int:
    """The back-off before a forward is tried again: 1 s, 2 s, 4 s ... at most 5 min."""
    return int(min(300_000, 1000 * 2 ** max(0, tries - 1)))


def new_forwards(
    tx: WriteTransaction,
    events: Sequence[ConversionEvent],
    targets: Mapping[str, tuple[str, str]],
    now_ms: int,
) -> None:
    """The forwards of newly recorded conversions, for messages a forwarding route took
    (``targets``: message id -> route id and upstream id, ``Loaded.forwards``)."""
    entries = [
        Forward(
            id=e.id,
            message_id=e.message_id,
            account_id=e.account_id,
            route_id=target[0],
            upstream_id=target[1],
            status=e.status,
            type=e.type,
            method=e.method,
            event_ms=e.event_ms,
        )
        for e in events
        if (target := targets.get(e.message_id)) is not None
    ]
    tx.insert_forwards(entries, now_ms)


def claim_forwards(
    tx: WriteTransaction, cmds: Sequence[ClaimForwards], now_ms: int
) -> list[ForwardsClaimed]:
    """Lease the due forwards (once for the whole batch)."""
    due = tx.claim_forwards(now_ms, max(c.limit for c in cmds), max(c.lease_ms for c in cmds))
    return [ForwardsClaimed(tuple(due)) if i == 0 else ForwardsClaimed() for i in range(len(cmds))]


def forwards_done(
    tx: WriteTransaction, cmds: Sequence[ForwardDone], now_ms: int
) -> list[ForwardSettled]:
    tx.delete_forwards({c.forward_id for c in cmds})
    return [ForwardSettled(c.forward_id) for c in cmds]


def forwards_failed(
    tx: WriteTransaction, cmds: Sequence[ForwardFailed], now_ms: int
) -> list[ForwardSettled]:
    out = []
    for c in cmds:
        entry = tx.forward_entry(c.forward_id)
        if entry is None:
            out.append(ForwardSettled(c.forward_id))
        elif c.transient and entry.tries < MAX_TRIES:
            due = now_ms + forward_delay_ms(entry.tries)
            tx.reschedule_forward(c.forward_id, due, c.error)
            out.append(ForwardSettled(c.forward_id, retry_ms=due))
        else:
            tx.reschedule_forward(c.forward_id, None, c.error)
            out.append(ForwardSettled(c.forward_id, failed=True))
    return out
