"""The write use cases (``services/messaging.py``, ``services/sweeps.py``) over a real store,
on every backend: sends routed and logged, reports appended and folded, idempotency, windows,
receipts, the sweeps. Sends are routed by the service's own live router with the static
policy (the cheapest route), as a server configured with it would be."""

from __future__ import annotations

import time
from functools import partial

import pytest
from sqlalchemy import select

from convroute.bootstrap import Container
from convroute.domain.commands import (
    ConversionRecorded,
    MessageAccepted,
    Nonce,
    RecordConversion,
    RecordDlr,
    SendMessage,
)
from convroute.domain.errors import NoRouteError, NotFoundError, ReplayError
from convroute.domain.models import Principal
from convroute.domain.statuses import (
    ConversionStatus,
    Dialect,
    DlrStatus,
    EventSource,
    MessageType,
    TrafficClass,
)
from convroute.services import sweeps
from convroute.services.messaging import close_due_windows
from convroute.storage import schema as t
from tests.conftest import add_account, add_route, count, principal, run, send

S = ConversionStatus
# a day ago, to the second: reports may not be more than an hour ahead of the writer's clock
T0 = int(time.time()) * 1000 - 86_400_000


def test_send_routes_to_the_cheapest_and_logs_the_decision(
    container: Container, acme: Principal
) -> None:
    sent = send(container, acme)
    assert sent.route_name == "cheap"
    assert sent.country == "US"
    decision = container.store.read(lambda conn: conn.execute(select(t.routing_decisions)).one())
    assert decision.message_id == sent.message_id
    assert decision.probability == 1.0
    view = container.store.get_message(acme.account_id, sent.message_id)
    assert view.route_name == "cheap"
    assert view.message.dst == "+14155552671"
    assert view.state.window_due_ms == sent.sent_ms + 600_000


def test_a_disabled_route_is_never_chosen(container: Container, acme: Principal) -> None:
    add_route(container, "off", 0.001, enabled=False)  # cheapest of all, but disabled
    outs = run(
        container,
        *[SendMessage(acme, "Acme", "+81312345678", "x", MessageType.OTP, True) for _ in range(5)],
    )
    assert {o.route_name for o in outs if isinstance(o, MessageAccepted)} == {"cheap"}
    assert count(container, t.messages) == 5


def test_no_serving_route_is_an_error(container: Container) -> None:
    add_route(container, "fr-only", 0.03, country="FR")
    who = principal(container, add_account(container))
    (out,) = run(container, SendMessage(who, "Acme", "+14155552671", "x", MessageType.OTP, True))
    assert isinstance(out, NoRouteError)
    assert count(container, t.messages) == 0
    assert count(container, t.message_state) == 0


def test_conversion_is_appended_and_folded(container: Container, acme: Principal) -> None:
    sent = send(container, acme)
    (first,) = run(
        container,
        RecordConversion(acme, sent.message_id, S.INCORRECT_CODE, event_ms=T0),
    )
    (second,) = run(
        container, RecordConversion(acme, sent.message_id, S.CONVERTED, event_ms=T0 + 1_000)
    )
    view = container.store.get_message(acme.account_id, sent.message_id)
    assert [e.status for e in view.conversions] == [S.INCORRECT_CODE, S.CONVERTED]
    assert view.state.status is not None
    assert view.state.status.status is S.CONVERTED
    assert view.state.window_due_ms is None  # final: the window no longer matters
    assert isinstance(first, ConversionRecorded)
    assert isinstance(second, ConversionRecorded)
    assert view.conversions[0].traffic_class is TrafficClass.TWO_FA
    assert view.conversions[0].dialect is Dialect.NATIVE


def test_identical_report_is_idempotent(container: Container, acme: Principal) -> None:
    sent = send(container, acme)
    cmd = RecordConversion(acme, sent.message_id, S.CONVERTED, event_ms=T0)
    (a,) = run(container, cmd)
    (b,) = run(container, cmd)
    c1, c2 = run(container, cmd, cmd)  # twice in one batch too
    assert isinstance(a, ConversionRecorded)
    assert not a.duplicate
    for dup in (b, c1, c2):
        assert isinstance(dup, ConversionRecorded)
        assert dup.duplicate
        assert dup.conversion_id == a.conversion_id
    assert count(container, t.conversion_events) == 1
    (other_time,) = run(
        container, RecordConversion(acme, sent.message_id, S.CONVERTED, event_ms=T0 + 1)
    )
    assert isinstance(other_time, ConversionRecorded)
    assert not other_time.duplicate


def test_other_accounts_message_is_not_found_and_unchanged(
    container: Container, acme: Principal, other: Principal
) -> None:
    sent = send(container, acme)
    (conv,) = run(container, RecordConversion(other, sent.message_id, S.CONVERTED))
    (dlr,) = run(container, RecordDlr(other, sent.message_id, DlrStatus.DELIVERED))
    assert isinstance(conv, NotFoundError)
    assert isinstance(dlr, NotFoundError)
    with pytest.raises(NotFoundError):
        container.store.get_message(other.account_id, sent.message_id)
    assert count(container, t.conversion_events) == 0
    assert count(container, t.dlr_events) == 0
    assert container.store.conversion_stats(other.account_id, [], None, None) == []


def test_unknown_message_in_a_batch_fails_alone(container: Container, acme: Principal) -> None:
    sent = send(container, acme)
    missing = "01a20865-ec10-7c64-853b-f6a208d1f991"
    good, bad = run(
        container,
        RecordConversion(acme, sent.message_id, S.CONVERTED),
        RecordConversion(acme, missing, S.CONVERTED),
    )
    assert isinstance(good, ConversionRecorded)
    assert isinstance(bad, NotFoundError)
    assert count(container, t.conversion_events) == 1


def test_signatures_within_one_batch_are_claimed_once_and_a_refused_one_is_kept_for_none(
    container: Container, acme: Principal
) -> None:
    """One batch: a signature used twice is accepted once and refused as a replay after; a
    signed report refused (an unknown message) leaves its signature unused; one recorded
    before, in its earlier form too, is a replay."""
    sent = send(container, acme)
    missing = "01a20865-ec10-7c64-853b-f6a208d1f991"
    t0 = container.clock()
    once, refused = Nonce("k-once", t0 + 300_000), Nonce("k-refused", t0 + 300_000)
    old, older = Nonce("k-old", t0 + 300_000), Nonce("k-new", t0 + 300_000, "k-older")
    container.store.write(lambda tx: tx.claim_nonces([old, Nonce("k-older", t0 + 300_000)]))
    report = partial(RecordConversion, acme, sent.message_id, S.CONVERTED)
    outcomes = run(
        container,
        report(nonce=once),
        report(nonce=once),
        RecordConversion(acme, missing, S.CONVERTED, nonce=refused),
        report(nonce=old),
        report(nonce=older),
    )
    kinds = [type(o) for o in outcomes]
    assert kinds == [ConversionRecorded, ReplayError, NotFoundError, ReplayError, ReplayError]
    keys = select(t.used_nonces.c.key)
    left = container.store.read(lambda conn: set(conn.execute(keys).scalars()))
    assert left == {"k-once", "k-old", "k-older"}
    (again,) = run(
        container, RecordConversion(acme, sent.message_id, S.NOT_CONVERTED, nonce=refused)
    )
    assert isinstance(again, ConversionRecorded)  # the refused request's signature was unused


def test_window_closes_and_a_late_report_corrects_it(container: Container, acme: Principal) -> None:
    t0 = T0
    sent = send(container, acme, now=t0)
    untracked = send(container, acme, trackable=False, now=t0)
    assert container.store.write(partial(close_due_windows, now_ms=t0 + 599_999)) == 0
    assert container.store.write(partial(close_due_windows, now_ms=t0 + 600_000)) == 1
    assert container.store.write(partial(close_due_windows, now_ms=t0 + 900_000)) == 0  # once
    view = container.store.get_message(acme.account_id, sent.message_id)
    assert view.state.status is not None
    assert (view.state.status.status, view.state.status.source) == (
        S.NOT_CONVERTED,
        EventSource.WINDOW,
    )
    assert view.conversions[0].event_ms == t0 + 600_000
    assert container.store.get_message(acme.account_id, untracked.message_id).state.status is None
    # The user converted at t0+60s; the report arrives after the window closed.
    run(
        container,
        RecordConversion(acme, sent.message_id, S.CONVERTED, event_ms=t0 + 60_000),
        now=t0 + 1_000_000,
    )
    view = container.store.get_message(acme.account_id, sent.message_id)
    assert view.state.status is not None
    assert view.state.status.status is S.CONVERTED
    assert [e.source for e in view.conversions] == [EventSource.WINDOW, EventSource.CLIENT]
    stats = container.store.conversion_stats(acme.account_id, [], None, None)
    assert stats[0]["converted"] == 1
    assert stats[0]["not_converted"] == 0


def test_window_per_account_and_type(container: Container, acme: Principal) -> None:
    container.store.set_window(acme.account_id, MessageType.OTP, 30)
    sent = send(container, acme, now=T0)
    view = container.store.get_message(acme.account_id, sent.message_id)
    assert view.state.window_due_ms == T0 + 30_000
    assert container.store.windows(acme.account_id) == {MessageType.OTP: 30}
    container.store.set_window(acme.account_id, MessageType.OTP, None)
    assert container.store.windows(acme.account_id) == {}


def test_latest_dlr_by_event_time(container: Container, acme: Principal) -> None:
    sent = send(container, acme)
    run(container, RecordDlr(acme, sent.message_id, DlrStatus.DELIVERED, event_ms=T0 + 2_000))
    run(container, RecordDlr(acme, sent.message_id, DlrStatus.FAILED, event_ms=T0 + 1_000))
    view = container.store.get_message(acme.account_id, sent.message_id)
    assert view.state.dlr_status is DlrStatus.DELIVERED
    assert [d.status for d in view.dlrs] == [DlrStatus.DELIVERED, DlrStatus.FAILED]


def test_the_sweep_closes_every_due_window_in_batches_and_forgets_expired_nonces(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_route(container, "cheap", 0.02)
    who = principal(container, add_account(container))
    t0 = container.clock()
    for i in range(5):
        send(container, who, now=t0 + i)
    fresh, stale = Nonce("fresh", t0 + 10**9), Nonce("stale", t0 + 1)
    container.store.write(lambda tx: tx.claim_nonces([fresh, stale]))
    later = t0 + 3_600_000

    def one(command: object) -> object:
        (outcome,) = run(container, command, now=later)
        return outcome

    monkeypatch.setattr(sweeps, "WINDOW_BATCH", 2)  # three transactions for five windows
    assert sweeps.sweep(one) == (5, 1)
    keys = select(t.used_nonces.c.key)
    left = container.store.read(lambda conn: set(conn.execute(keys).scalars()))
    assert left == {"fresh"}
    assert sweeps.sweep(one) == (0, 0)
