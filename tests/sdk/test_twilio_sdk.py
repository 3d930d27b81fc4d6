"""Twilio's official Python SDK (``twilio``) as a client, unmodified, over HTTPS: its transport
(``TwilioHttpClient``) is pointed at the local server, as one points it at a proxy; the
requests, the authentication and the parsing of the answers are the SDK's own. Verify v2
(start, check wrong and right, fetch, cancel, the resend a second start makes), and the
Messaging API with ProvideFeedback and Message Feedback."""

from __future__ import annotations

import random
from typing import Any

import pytest

from convroute.domain.statuses import ConversionStatus
from tests.sdk.conftest import Served

SERVICE = "VA" + "0" * 32
TO = "+447700900123"


class Phone:
    """The codes' randomness, remembering each code drawn (what the user's phone shows)."""

    def __init__(self) -> None:
        self.rng = random.Random(11)
        self.codes: list[str] = []

    def __call__(self, n: int) -> int:
        value = self.rng.randrange(n)
        self.codes.append(str(value).zfill(len(str(n)) - 1))
        return value


def twilio_client(served: Served, who: Any = None) -> Any:
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    base = served.base_url

    class ToLocal(TwilioHttpClient):  # type: ignore[misc]
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            for host in ("https://verify.twilio.com", "https://api.twilio.com"):
                url = url.replace(host, base)
            return super().request(method, url, *args, **kwargs)

    shown = (who or served.acme).issued_shown("twilio")
    return Client(shown["account_sid"], shown["auth_token"], http_client=ToLocal())


def _status(served: Served, message_id: str) -> Any:
    view = served.container.store.get_message(served.acme.account.id, message_id)
    return view.state.status.status if view.state.status else None


def test_twilio_verify_sends_and_checks_a_code(served: Served) -> None:
    phone = Phone()
    served.container.verifier.randbelow = phone
    client = twilio_client(served)
    service = client.verify.v2.services(SERVICE)
    started = service.verifications.create(to=TO, channel="sms", locale="de")
    assert started.sid.startswith("VE")
    assert (started.status, started.valid, started.to, started.channel) == (
        "pending", False, TO, "sms",
    )  # fmt: skip
    assert started.date_created is not None
    (code,) = phone.codes
    wrong = "000000" if code != "000000" else "111111"
    check = service.verification_checks.create(to=TO, code=wrong)
    assert (check.status, check.valid) == ("pending", False)
    check = service.verification_checks.create(verification_sid=started.sid, code=code)
    assert (check.status, check.valid) == ("approved", True)
    fetched = service.verifications(started.sid).fetch()
    assert fetched.status == "approved"
    # the message behind it converted: routing learned it
    uuid = started.sid[2:]
    vid = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
    kept = served.container.verifier.store.get(served.acme.account.id, vid)
    assert kept is not None
    assert _status(served, kept.message_id) == ConversionStatus.CONVERTED


def test_twilio_verify_resends_cancels_and_errs_as_twilio(served: Served) -> None:
    from twilio.base.exceptions import TwilioRestException

    phone = Phone()
    served.container.verifier.randbelow = phone
    client = twilio_client(served)
    service = client.verify.v2.services(SERVICE)
    first = service.verifications.create(to=TO, channel="sms")
    again = service.verifications.create(to=TO, channel="sms")  # Twilio's resend
    assert again.sid == first.sid
    assert len(phone.codes) == 2
    canceled = service.verifications(first.sid).update(status="canceled")
    assert canceled.status == "canceled"
    with pytest.raises(TwilioRestException) as gone:
        service.verification_checks.create(verification_sid=first.sid, code=phone.codes[1])
    assert (gone.value.status, gone.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as bad:
        service.verifications.create(to="12", channel="sms")
    assert (bad.value.status, bad.value.code) == (400, 60200)
    with pytest.raises(TwilioRestException) as voice:
        service.verifications.create(to=TO, channel="voice")
    assert voice.value.status == 400
    # another account's verification does not exist for this one
    other = twilio_client(served, served.other).verify.v2.services(SERVICE)
    with pytest.raises(TwilioRestException) as hidden:
        other.verifications(first.sid).fetch()
    assert hidden.value.status == 404
    # wrong credentials
    from twilio.rest import Client

    wrong = Client(served.acme.issued_shown("twilio")["account_sid"], "0" * 32,
                   http_client=twilio_client(served).http_client)  # fmt: skip
    with pytest.raises(TwilioRestException) as denied:
        wrong.verify.v2.services(SERVICE).verifications.create(to=TO, channel="sms")
    assert (denied.value.status, denied.value.code) == (401, 20003)


def test_twilio_messages_with_feedback_are_conversions(served: Served) -> None:
    client = twilio_client(served)
    sent = client.messages.create(
        to="+14155552671", from_="+15005550006", body="Your code is 4321", provide_feedback=True
    )
    assert sent.sid.startswith("SM")
    assert sent.status == "queued"
    uuid = sent.sid[2:]
    message_id = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
    view = served.container.store.get_message(served.acme.account.id, message_id)
    assert view.message.trackable is True
    feedback = client.messages(sent.sid).feedback.create(outcome="confirmed")
    assert feedback.outcome == "confirmed"
    assert _status(served, message_id) == ConversionStatus.CONVERTED
    fetched = client.messages(sent.sid).fetch()
    assert fetched.to == "+14155552671"
