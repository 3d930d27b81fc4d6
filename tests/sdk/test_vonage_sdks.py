"""Vonage's official Python SDKs as clients, unmodified, over HTTPS: ``vonage`` v4
(``Sms.send`` and ``Sms.submit_sms_conversion`` with Basic and with signature auth) and
``nexmo`` 2.x (``Sms.send_message`` signed with every signature method, and
``Sms.submit_sms_conversion``, which nexmo 2.x always sends with key and secret).

vonage 4.9.1's ``Sms.send`` cannot be used with signature auth against any server: it signs
every field of ``SmsMessage`` including the unset ones (``&client-ref=None``, even
``&sig=None``), which ``requests`` then leaves out of the form, so the signature covers
parameters that are never sent. Its ``submit_sms_conversion`` signs only what it sends, and is
tested signed here; messages for it are sent with Basic auth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from convroute.domain.models import SignatureMethod
from convroute.domain.statuses import Dialect, TrafficClass
from convroute.services.accounts import IssuedCredential, issue_credential
from tests.sdk.conftest import Served, require_port_443


def message_view(served: Served, message_id: str) -> Any:
    return served.container.store.get_message(served.acme.account.id, message_id)


def vonage_credential(served: Served, method: SignatureMethod) -> IssuedCredential:
    issued = issue_credential(
        served.acme.account.id,
        Dialect.VONAGE,
        TrafficClass.TWO_FA,
        served.container.clock(),
        signature_method=method,
    )
    served.container.store.add_credential(issued)
    return issued


# -- vonage v4 ------------------------------------------------------------------------------------


def vonage_client(served: Served, **auth: str) -> Any:
    from vonage import Auth, HttpClientOptions, Vonage

    options = HttpClientOptions(api_host=served.netloc, rest_host=served.netloc)
    return Vonage(Auth(**auth), options)


def test_vonage_v4_basic_auth(served: Served) -> None:
    from vonage_sms import SmsMessage

    shown = served.acme.issued_shown("vonage")
    client = vonage_client(served, api_key=shown["api_key"], api_secret=shown["api_secret"])
    sent = client.sms.send(SmsMessage(to="447700900001", from_="Acme", text="Your code: 1234"))
    (message,) = sent.messages
    assert message.status == "0"
    # the reply's fields, as the SDK's model reads them
    assert (message.message_price, message.remaining_balance) == ("0.02000000", "0.00000000")
    assert message.network is not None
    at = datetime.now(UTC) - timedelta(seconds=30)
    assert client.sms.submit_sms_conversion(message.message_id, True, at) is None
    view = message_view(served, message.message_id)
    assert view.state.status is not None
    assert view.state.status.status == "converted"
    (event,) = view.conversions
    assert event.event_ms // 1000 == int(at.replace(microsecond=0).timestamp())
    assert event.dialect == "vonage"


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_vonage_v4_signature_auth(served: Served, method: str) -> None:
    from vonage_sms import SmsMessage

    issued = vonage_credential(served, SignatureMethod(method))
    basic = vonage_client(
        served, api_key=issued.shown["api_key"], api_secret=issued.shown["api_secret"]
    )
    sent = basic.sms.send(SmsMessage(to="447700900001", from_="Acme", text="a&b=c d"))
    message_id = sent.messages[0].message_id
    client = vonage_client(
        served,
        api_key=issued.shown["api_key"],
        signature_secret=issued.shown["signature_secret"],
        signature_method=method,
    )
    client.sms.submit_sms_conversion(message_id, delivered=False)
    view = message_view(served, message_id)
    assert view.state.status is not None
    assert view.state.status.status == "not_converted"


def test_vonage_v4_wrong_secret_raises_authentication_error(served: Served) -> None:
    from vonage_http_client import AuthenticationError

    shown = served.acme.issued_shown("vonage")
    client = vonage_client(served, api_key=shown["api_key"], api_secret="not-the-secret")
    with pytest.raises(AuthenticationError):
        client.sms.submit_sms_conversion("0190d1c2-0000-7000-8000-000000000000", True)


def test_vonage_v4_unknown_message_raises_http_error(served: Served) -> None:
    from vonage_http_client import HttpRequestError

    shown = served.acme.issued_shown("vonage")
    client = vonage_client(served, api_key=shown["api_key"], api_secret=shown["api_secret"])
    with pytest.raises(HttpRequestError) as raised:
        client.sms.submit_sms_conversion("0190d1c2-0000-7000-8000-000000000000", True)
    assert raised.value.response.status_code == 423


# -- nexmo 2.x ------------------------------------------------------------------------------------


def nexmo_sms(served: Served, **kwargs: Any) -> Any:
    import nexmo

    require_port_443(served)
    client = nexmo.Client(**kwargs)
    client.host(served.host)
    client.api_host(served.host)
    return nexmo.Sms(client)


@pytest.mark.parametrize("method", list(SignatureMethod))
def test_nexmo_signed_send_and_conversion(served: Served, method: SignatureMethod) -> None:
    issued = vonage_credential(served, method)
    client = nexmo_sms(
        served,
        key=issued.shown["api_key"],
        secret=issued.shown["api_secret"],
        signature_secret=issued.shown["signature_secret"],
        # nexmo 2.x spells md5hash as "no method"; the others by their hash name
        signature_method=None if method is SignatureMethod.MD5HASH else method.value,
    )
    sent = client.send_message({"from": "Acme", "to": "447700900001", "text": "code 9 & more"})
    (message,) = sent["messages"]
    assert message["status"] == "0", message
    assert client.submit_sms_conversion(message["message-id"]) == b"OK"
    view = message_view(served, message["message-id"])
    assert view.state.status is not None
    assert view.state.status.status == "converted"


def test_nexmo_key_and_secret(served: Served) -> None:
    shown = served.acme.issued_shown("vonage")
    client = nexmo_sms(served, key=shown["api_key"], secret=shown["api_secret"])
    sent = client.send_message({"from": "Acme", "to": "447700900001", "text": "x"})
    message_id = sent["messages"][0]["message-id"]
    assert client.submit_sms_conversion(message_id, delivered=False) == b"OK"
    assert message_view(served, message_id).conversions[0].status == "not_converted"


def test_nexmo_bad_signature_is_reported_in_the_body(served: Served) -> None:
    shown = served.acme.issued_shown("vonage")
    client = nexmo_sms(
        served, key=shown["api_key"], secret=shown["api_secret"], signature_secret="wrong"
    )
    sent = client.send_message({"from": "Acme", "to": "447700900001", "text": "x"})
    assert sent["messages"][0]["status"] == "14"
