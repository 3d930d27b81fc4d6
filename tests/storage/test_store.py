"""The store suite: every test runs on SQLite and on PostgreSQL (see conftest ``database_url``)."""

from __future__ import annotations

import threading
import time
from functools import partial

import pytest
from sqlalchemy import func, select

from convroute.bootstrap import Container
from convroute.domain.commands import (
    ConversionRecorded,
    MessageAccepted,
    Nonce,
    RecordConversion,
    RecordDlr,
    SendMessage,
)
from convroute.domain.errors import ConflictError, NoRouteError, NotFoundError
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
from convroute.services.messaging import close_due_windows, handle_batch
from convroute.storage import schema as t
from tests.conftest import add_account, add_route, principal

S = ConversionStatus
# a day ago, to the second: reports may not be more than an hour ahead of the writer's clock
T0 = int(time.time()) * 1000 - 86_400_000


def run(c: Container, *commands: object, now: int | None = None) -> list[object]:
    at = c.clock() if now is None else now
    return c.store.write(lambda tx: handle_batch(tx, list(commands), at))  # type: ignore[arg-type]


def send(
    c: Container,
    who: Principal,
    dst: str = "+14155552671",
    trackable: bool = True,
    now: int | None = None,
) -> MessageAccepted:
    (out,) = run(c, SendMessage(who, "Acme", dst, "code 1", MessageType.OTP, trackable), now=now)
    assert isinstance(out, MessageAccepted), out
    return out


def count(c: Container, table: object) -> int:
    return int(
        c.store.read(
            lambda conn: conn.execute(select(func.count()).select_from(table)).scalar_one()
        )
    )


@pytest.fixture
def acme(container: Container) -> Principal:
    add_route(container, "cheap", 0.02)
    add_route(container, "dear", 0.05)
    return principal(container, add_account(container, "acme"))


@pytest.fixture
def other(container: Container) -> Principal:
    return principal(container, add_account(container, "other"))


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


def test_stats_group_and_rate(container: Container, acme: Principal) -> None:
    a = send(container, acme, dst="+14155552671", now=T0)
    b = send(container, acme, dst="+33612345678", now=T0)
    send(container, acme, dst="+33612345679", now=T0)  # pending
    c = send(container, acme, dst="+33612345670", now=T0)
    run(container, RecordConversion(acme, a.message_id, S.CONVERTED))
    run(container, RecordConversion(acme, b.message_id, S.NOT_CONVERTED))
    run(container, RecordConversion(acme, c.message_id, S.CANCELED))
    rows = container.store.conversion_stats(acme.account_id, ["country", "route"], None, None)
    by_country = {r["country"]: r for r in rows}
    assert by_country["US"]["conversion_rate"] == 1.0
    fr = by_country["FR"]
    assert (fr["messages"], fr["pending"], fr["canceled"], fr["reported"]) == (3, 1, 1, 1)
    assert fr["conversion_rate"] == 0.0
    assert fr["route"] == "cheap"
    assert container.store.conversion_stats(acme.account_id, [], 1_900_000_000_000, None) == []


def test_account_names_are_unique(container: Container) -> None:
    add_account(container, "acme")
    with pytest.raises(ConflictError):
        add_account(container, "acme")


def test_credentials_round_trip_with_encrypted_signature_secret(container: Container) -> None:
    created = add_account(container, "acme")
    vonage = created.issued[Dialect.VONAGE]
    found = container.store.find_credential(Dialect.VONAGE, vonage.shown["api_key"])
    assert found is not None
    credential, account = found
    assert credential.signature_secret == vonage.shown["signature_secret"]
    raw = container.store.read(
        lambda conn: conn.execute(
            select(t.credentials.c.signature_secret_enc).where(t.credentials.c.dialect == "vonage")
        ).scalar_one()
    )
    assert vonage.shown["signature_secret"] not in raw  # encrypted at rest
    assert account.name == "acme"
    assert container.store.find_credential(Dialect.PLIVO, "MA_NOPE") is None


def test_group_commit_shares_commits_and_loses_nothing(
    container: Container, acme: Principal
) -> None:
    sent = send(container, acme)
    container.committer.start()
    results: list[object] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        for i in range(25):
            cmd = RecordConversion(
                acme, sent.message_id, S.INCORRECT_CODE, event_ms=T0 + n * 1000 + i
            )
            out = container.committer.execute_sync(cmd)
            with lock:
                results.append(out)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 200
    assert all(isinstance(r, ConversionRecorded) for r in results)
    assert count(container, t.conversion_events) == 200
    assert container.committer.commands == 200
    assert container.committer.batches < 200  # concurrent writers shared commits


def test_the_sweep_closes_every_due_window_in_batches_and_forgets_expired_nonces(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_route(container, "cheap", 0.02)
    who = principal(container, add_account(container))
    t0 = container.clock()
    for i in range(5):
        send(container, who, now=t0 + i)
    fresh, stale = Nonce("fresh", t0 + 10**9), Nonce("stale", t0 + 1)
    container.store.write(lambda tx: tx.insert_nonces([fresh, stale]))
    later = t0 + 3_600_000

    def run(command: object) -> object:
        return container.store.write(lambda tx: handle_batch(tx, [command], later)[0])  # type: ignore[list-item]

    monkeypatch.setattr(sweeps, "WINDOW_BATCH", 2)  # three transactions for five windows
    assert sweeps.sweep(run) == (5, 1)
    keys = select(t.used_nonces.c.key)
    left = container.store.read(lambda conn: set(conn.execute(keys).scalars()))
    assert left == {"fresh"}
    assert sweeps.sweep(run) == (0, 0)
