"""The SMPP connector through the app, over real TCP against the test SMSC: receipts of every
kind end up as DLRs on the right messages, long and non-GSM texts are split and coded as the
SMSC expects, a dropped connection reconnects and loses nothing, throttling slows and does
not fail, a refusal fails over."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from convroute.connectors.smpp.codec import decode_text
from tests.api.conftest import Api
from tests.api.test_connectors import only_route, outbox_size, wait_for
from tests.scrape import value
from tests.smsc import Smsc


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    s = Smsc()
    yield s
    s.close()


def dlr_of(api: Api, message_id: str) -> list[dict[str, Any]]:
    return list(api.view(message_id)["dlrs"])


@pytest.mark.parametrize(
    ("receipts", "status", "code"),
    [
        ("honest", "delivered", None),
        ("tlv", "delivered", None),
        ("undeliv", "failed", "smpp_034"),
        ("enroute_then_delivered", "delivered", None),
    ],
)
def test_receipts_become_dlrs_on_the_right_messages(
    api: Api, smsc: Smsc, receipts: str, status: str, code: str | None
) -> None:
    smsc.receipts = receipts
    only_route(api, "smpp", smsc.config())
    sent = [api.send(dst=f"+44770090012{i}", text=f"code {i}") for i in range(5)]
    for mid in sent:
        (dlr,) = wait_for(lambda mid=mid: dlr_of(api, mid))
        assert (dlr["status"], dlr["error_code"]) == (status, code)
    # each message went once, with its own id in the TLV, to its own number
    by_ours = {s.ours: s for s in smsc.submitted}
    assert set(by_ours) == set(sent)
    for i, mid in enumerate(sent):
        assert by_ours[mid].destination == f"44770090012{i}"
        assert by_ours[mid].registered_delivery == 1
        assert decode_text(by_ours[mid].short_message, by_ours[mid].data_coding) == f"code {i}"
    assert smsc.binds == ["bind_transceiver"]
    assert outbox_size(api) == 0


def test_fake_and_missing_receipts_are_recorded_as_the_smsc_sent_them(api: Api, smsc: Smsc) -> None:
    smsc.receipts = "fake"
    smsc.undelivered_destinations = {"447700900123"}
    only_route(api, "smpp", smsc.config())
    mid = api.send(dst="+447700900123")
    (dlr,) = wait_for(lambda: dlr_of(api, mid))
    assert dlr["status"] == "delivered"  # it lies: that is the router's problem to learn
    smsc.receipts = "none"
    quiet = api.send(dst="+447700900124")
    wait_for(lambda: any(s.ours == quiet for s in smsc.submitted))
    wait_for(lambda: outbox_size(api) == 0)
    assert dlr_of(api, quiet) == []


def test_a_late_receipt_still_lands(api: Api, smsc: Smsc) -> None:
    smsc.receipt_delay_s = 1.5
    only_route(api, "smpp", smsc.config())
    mid = api.send()
    (dlr,) = wait_for(lambda: dlr_of(api, mid), seconds=8)
    assert dlr["status"] == "delivered"


def test_long_and_unicode_texts_are_split_with_a_udh_and_coded(api: Api, smsc: Smsc) -> None:
    only_route(api, "smpp", smsc.config())
    long_gsm = "Your code is 424242. " * 12 + "€"  # 253 characters, one escape at the end
    unicode = "Ваш код 424242 " * 6  # Cyrillic: UCS-2, 90 characters (180 bytes)
    mids = [api.send(text=long_gsm), api.send(text=unicode)]
    wait_for(lambda: len(smsc.submitted) == 4)
    for mid, text, coding in ((mids[0], long_gsm, 0), (mids[1], unicode, 8)):
        parts = [s for s in smsc.submitted if s.ours == mid]
        assert len(parts) == 2
        assert all(p.data_coding == coding and p.esm_class & 0x40 for p in parts)
        udhs = [p.short_message[:6] for p in parts]
        assert [u[5] for u in udhs] == [1, 2]
        assert udhs[0][:5] == udhs[1][:5]  # one reference for both parts
        joined = "".join(decode_text(p.short_message, p.data_coding, p.esm_class) for p in parts)
        assert joined == text
        wait_for(lambda mid=mid: len(dlr_of(api, mid)) == 2)  # a receipt per part


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, object]]:
    """The structured events of that name that were logged."""
    return [
        r.msg for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == name
    ]  # fmt: skip


def test_a_dropped_connection_reconnects_and_loses_nothing(
    api: Api, smsc: Smsc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="convroute.events")
    smsc.drop_after = 3
    only_route(api, "smpp", smsc.config(connect_timeout_s=3))
    sent = [api.send(text=f"code {i}") for i in range(10)]
    wait_for(lambda: set(smsc.unique()) >= set(sent), seconds=10)
    assert len(smsc.binds) >= 2  # it bound again
    wait_for(lambda: outbox_size(api) == 0, seconds=10)
    state = api.container.dispatcher.states()
    (route_state,) = state.values()
    assert route_state["state"] == "bound"
    assert route_state["reconnects"] >= 1
    bound, dropped = events(caplog, "connector_bound"), events(caplog, "connector_dropped")
    assert len(bound) >= 2
    assert dropped
    assert dropped[0]["route"] == "up"
    assert dropped[0]["level"] == "warning"
    assert str(dropped[0]["smsc"]).startswith("127.0.0.1:")


def test_throttling_slows_and_does_not_fail(
    api: Api, smsc: Smsc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="convroute.events")
    smsc.throttle_first = 5
    only_route(api, "smpp", smsc.config())
    sent = [api.send(text=f"code {i}") for i in range(3)]
    for mid in sent:
        (dlr,) = wait_for(lambda mid=mid: dlr_of(api, mid))
        assert dlr["status"] == "delivered"
    assert smsc.throttled == 5
    assert api.container.dispatcher.failed == 0
    (throttled,) = events(caplog, "connector_throttled")  # once, not once per refusal
    assert throttled["status"] == "0x00000058"
    assert events(caplog, "connector_unthrottled")


def test_a_refusing_smsc_fails_over_to_the_next_route(api: Api, smsc: Smsc) -> None:
    from convroute.domain.models import RouteDestination
    from convroute.services.routes import new_route

    good = Smsc()
    try:
        smsc.refuse_status = 0x0B  # ESME_RINVDSTADR
        only_route(api, "smpp", smsc.config())
        other = new_route(
            "other", [RouteDestination("*", 0.05)], api.container.clock(), "smpp", good.config()
        )
        api.container.store.add_route(other)
        mid = api.send()
        (dlr,) = wait_for(lambda: dlr_of(api, mid))
        assert dlr["status"] == "delivered"
        assert [s.ours for s in good.submitted] == [mid]
        routing = api.view(mid)["routing"]
        assert routing[-1]["route"]["name"] == "other"
        if len(routing) == 2:
            assert "smpp_0x0000000b" in routing[1]["reason"]
    finally:
        good.close()


def test_wrong_credentials_never_bind_and_the_message_waits_in_the_outbox(
    api: Api, smsc: Smsc
) -> None:
    only_route(api, "smpp", smsc.config(password="wrong", connect_timeout_s=0.5))
    api.send()
    wait_for(lambda: "bind_transceiver refused" in smsc.binds)
    wait_for(lambda: api.container.dispatcher.states())
    assert outbox_size(api) == 1  # kept, retried: the operator fixes the password
    assert not smsc.submitted


def test_the_connection_shows_in_the_route_list_and_metrics(api: Api, smsc: Smsc) -> None:
    import dataclasses

    from tests.api.conftest import ADMIN

    api.container.settings = dataclasses.replace(api.container.settings, admin_token=ADMIN)
    only_route(api, "smpp", smsc.config())
    mid = api.send()
    wait_for(lambda: dlr_of(api, mid))
    (route,) = [
        r
        for r in api.client.get(
            "/api/v1/routes", headers={"Authorization": f"Bearer {ADMIN}"}
        ).json()["routes"]
        if r["enabled"]
    ]
    assert route["config"]["password"] == "***"  # masked
    assert route["connection"]["state"] == "bound"
    assert route["connection"]["window"] == 10
    metrics = api.client.get("/metrics").text
    assert value(metrics, "convroute_connector_up", route=route["name"]) == 1
    assert value(metrics, "convroute_connector_window_in_use", route=route["name"]) == 0
    assert value(metrics, "convroute_outbox_pending") == 0
    assert value(metrics, "convroute_connector_submitted_total", route=route["name"]) == 1
