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
