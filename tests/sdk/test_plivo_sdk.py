"""Plivo's official Python SDK sends with ``trackable`` over HTTPS; it has no conversion call,
so the conversion is reported with raw HTTP exactly as Plivo's documentation shows it.

The SDK's API base is the module constant ``plivo.rest.client.PLIVO_API_BASE_URI`` and its
session verifies TLS with its own bundle: the test points both at the local server."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.sdk.conftest import Served


@pytest.fixture
def plivo_client(served: Served, monkeypatch: pytest.MonkeyPatch) -> Any:
    import plivo

    monkeypatch.setattr(plivo.rest.client, "PLIVO_API_BASE_URI", f"{served.base_url}/v1/Account")
    shown = served.acme.issued_shown("plivo")
    client = plivo.RestClient(shown["auth_id"], shown["auth_token"])
    client.session.verify = str(served.ca_path)
    yield client
    client.session.close()


def test_sdk_send_trackable_then_raw_conversion(served: Served, plivo_client: Any) -> None:
    sent = plivo_client.messages.create(
        src="14155551111", dst="14155552222", text="Your code is 4321", trackable=True
    )
    (message_uuid,) = sent.message_uuid
    assert sent.message == "message(s) queued"
    view = served.container.store.get_message(served.acme.account.id, message_uuid)
    assert view.message.trackable is True
    assert view.state.window_due_ms is not None

    shown = served.acme.issued_shown("plivo")
    r = requests.post(
        f"{served.base_url}/v1/account/{shown['auth_id']}/message/{message_uuid}/conversion/",
        json={"timestamp": "2026-02-09T09:00:43.511Z", "status": "CONVERTED"},
        auth=(shown["auth_id"], shown["auth_token"]),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "successfully recorded."
    view = served.container.store.get_message(served.acme.account.id, message_uuid)
    assert [e.status for e in view.conversions] == ["converted"]


def test_sdk_bulk_send(plivo_client: Any) -> None:
    sent = plivo_client.messages.create(
        src="14155551111", dst="14155552222<33612345678", text="hi", trackable=False
    )
    assert len(sent.message_uuid) == 2


def test_sdk_sees_plivo_errors(served: Served, plivo_client: Any) -> None:
    import plivo

    with pytest.raises(plivo.exceptions.ValidationError, match="dst"):
        plivo_client.messages.create(src="14155551111", dst="12", text="x")
    plivo_client.session.auth = (plivo_client.session.auth[0], "not-the-token")
    with pytest.raises(plivo.exceptions.AuthenticationError):
        plivo_client.messages.create(src="14155551111", dst="14155552222", text="x")


def test_sdk_gets_and_lists_messages(served: Served, plivo_client: Any) -> None:
    """As a new user tries it: ``messages.get`` and ``messages.list`` (with Plivo's filters
    and paging) read back what was sent; another account's message is not found."""
    import plivo

    uuids = [
        plivo_client.messages.create(
            src="14155551111", dst=dst, text="Your code is 4321"
        ).message_uuid[0]
        for dst in ("14155552222", "447700900123", "14155553333")
    ]
    got = plivo_client.messages.get(uuids[1])
    assert (got.message_uuid, got.to_number, got.from_number) == (
        uuids[1], "447700900123", "14155551111",
    )  # fmt: skip
    assert got.message_direction == "outbound"
    assert got.message_state == "sent"
    listed = plivo_client.messages.list(limit=2)
    assert [m.message_uuid for m in listed] == uuids[::-1][:2]  # newest first
    assert listed.meta["next"] is not None
    rest = plivo_client.messages.list(limit=2, offset=2)
    assert [m.message_uuid for m in rest] == [uuids[0]]
    assert rest.meta["next"] is None
    assert len(plivo_client.messages.list(message_state="delivered")) == 0
    assert len(plivo_client.messages.list(message_time__gte="2000-01-01 00:00:00")) == 3
    assert len(plivo_client.messages.list(message_direction="inbound")) == 0
    # another account's client finds none of them
    shown = served.other.issued_shown("plivo")
    theirs = plivo.RestClient(shown["auth_id"], shown["auth_token"])
    theirs.session.verify = str(served.ca_path)
    try:
        assert len(theirs.messages.list()) == 0
        with pytest.raises(plivo.exceptions.ResourceNotFoundError):
            theirs.messages.get(uuids[0])
    finally:
        theirs.session.close()
