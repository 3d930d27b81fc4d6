"""Vonage's Verify v2 with the ``vonage`` package's verify client, unmodified, over HTTPS
(its api_host pointed at the local server, with an API key and secret: Basic auth): start,
a wrong code, the right one, cancel, next workflow (a new code, over another route), and the
errors as the SDK raises them."""

from __future__ import annotations

import random
from typing import Any

import pytest

from convroute.domain.statuses import ConversionStatus
from tests.conftest import add_route
from tests.sdk.conftest import Served


class Phone:
    def __init__(self) -> None:
        self.rng = random.Random(5)
        self.codes: list[str] = []

    def __call__(self, n: int) -> int:
        value = self.rng.randrange(n)
        self.codes.append(str(value).zfill(len(str(n)) - 1))
        return value


def verify_client(served: Served, who: Any = None) -> Any:
    from vonage import Auth, HttpClientOptions, Vonage

    shown = (who or served.acme).issued_shown("vonage")
    options = HttpClientOptions(api_host=served.netloc, rest_host=served.netloc)
    return Vonage(Auth(api_key=shown["api_key"], api_secret=shown["api_secret"]), options).verify


def _status(served: Served, account: Any, message_id: str) -> Any:
    view = served.container.store.get_message(account.account.id, message_id)
    return view.state.status.status if view.state.status else None


def test_vonage_verify_v2_with_the_sdk(served: Served) -> None:
    from vonage_http_client.errors import HttpRequestError, NotFoundError
    from vonage_verify import SmsChannel, VerifyRequest

    phone = Phone()
    served.container.verifier.randbelow = phone
    add_route(served.container, "second", 0.03)
    verify = verify_client(served)
    started = verify.start_verification(
        VerifyRequest(brand="Acme", workflow=[SmsChannel(to="447700900123")], code_length=6)
    )
    rid = started.request_id
    code = phone.codes[-1]
    assert len(code) == 6
    kept = served.container.verifier.store.get(served.acme.account.id, rid)
    assert kept is not None
    first_message = kept.message_id
    with pytest.raises(HttpRequestError) as wrong:
        verify.check_code(rid, "000000" if code != "000000" else "111111")
    assert wrong.value.response.status_code == 400
    assert wrong.value.response.json()["title"] == "Invalid Code"
    assert _status(served, served.acme, first_message) == ConversionStatus.INCORRECT_CODE
    # a second verification to the number while this one is pending: 409, as on Vonage
    with pytest.raises(HttpRequestError) as busy:
        verify.start_verification(
            VerifyRequest(brand="Acme", workflow=[SmsChannel(to="447700900123")])
        )
    assert busy.value.response.status_code == 409
    # next workflow: a new code in a new message over the other route; the old one is resent
    verify.trigger_next_workflow(rid)
    kept = served.container.verifier.store.get(served.acme.account.id, rid)
    assert kept is not None
    assert kept.message_id != first_message
    assert _status(served, served.acme, first_message) == ConversionStatus.RESENT
    checked = verify.check_code(rid, phone.codes[-1])
    assert (checked.request_id, checked.status) == (rid, "completed")
    assert _status(served, served.acme, kept.message_id) == ConversionStatus.CONVERTED
    with pytest.raises(NotFoundError):  # verified already
        verify.check_code(rid, phone.codes[-1])
    # cancel
    other = verify.start_verification(
        VerifyRequest(brand="Acme", workflow=[SmsChannel(to="447700900124")])
    )
    assert verify.cancel_verification(other.request_id) is None
    with pytest.raises(NotFoundError):
        verify.cancel_verification(other.request_id)
    # another account's request does not exist for this one
    with pytest.raises(NotFoundError):
        verify_client(served, served.other).check_code(rid, phone.codes[-1])


def test_vonage_verify_v2_refuses_what_it_cannot_do(served: Served) -> None:
    from vonage_http_client.errors import AuthenticationError, HttpRequestError
    from vonage_verify import SmsChannel, VerifyRequest, VoiceChannel

    verify = verify_client(served)
    with pytest.raises(HttpRequestError) as voice:
        verify.start_verification(
            VerifyRequest(brand="Acme", workflow=[VoiceChannel(to="447700900123")])
        )
    assert voice.value.response.status_code == 422
    assert voice.value.response.json()["invalid_parameters"][0]["name"] == "workflow"
    from vonage import Auth, HttpClientOptions, Vonage

    shown = served.acme.issued_shown("vonage")
    options = HttpClientOptions(api_host=served.netloc, rest_host=served.netloc)
    wrong = Vonage(Auth(api_key=shown["api_key"], api_secret="x" * 16), options).verify
    with pytest.raises(AuthenticationError):
        wrong.start_verification(
            VerifyRequest(brand="Acme", workflow=[SmsChannel(to="447700900123")])
        )
