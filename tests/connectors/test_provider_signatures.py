"""Each provider's callback signature, checked against the provider's own code where it
publishes some (Plivo's and Vonage's SDKs, pinned as test dependencies) and against its
published example (Twilio's request-validation docs); Bird's against a signer written in
``tests/providers.py`` from its documentation."""

from __future__ import annotations

import time

import plivo.utils
import pytest
from hypothesis import given
from hypothesis import strategies as st
from vonage_http_client.auth import Auth

from convroute.connectors.providers import bird, twilio
from convroute.connectors.providers import plivo as our_plivo
from convroute.connectors.providers.base import Callback, CallbackRefused
from convroute.connectors.providers.bird import BIRD
from convroute.connectors.providers.vonage import VONAGE
from tests import providers as sign

text = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="&=#%+?"),
               min_size=1, max_size=12)  # fmt: skip
forms = st.dictionaries(text, text, max_size=6)


def test_twilio_matches_its_published_example() -> None:
    form = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
            "From": "+12349013030", "To": "+18005551212"}  # fmt: skip
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio.signature("12345", url, form) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


@given(form=forms, query=forms, nonce=text, method=st.sampled_from(["POST", "GET"]))
def test_plivo_v3_is_what_plivos_sdk_validates(
    form: dict[str, str], query: dict[str, str], nonce: str, method: str
) -> None:
    url = "https://cr.example.com/callbacks/r1"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    ours = our_plivo.signature("token-1", method, url, form, nonce)
    assert plivo.utils.validate_v3_signature(method, url, nonce, "token-1", ours, dict(form))
    assert not plivo.utils.validate_v3_signature(method, url, nonce, "token-2", ours, dict(form))
    if method == "POST" and form:
        assert sign.plivo_v3("token-1", url, form, nonce) == ours  # the stubs sign alike


@given(params=forms)
def test_vonage_accepts_what_vonages_sdk_signs_and_refuses_a_change(params: dict[str, str]) -> None:
    now = int(time.time())
    params = {**params, "timestamp": str(now), "messageId": "m1", "status": "delivered"}
    params.pop("sig", None)
    auth = Auth(
        api_key="k", api_secret="s", signature_secret="sigsecret", signature_method="sha256"
    )
    signed = {**params, "sig": auth.sign_params(dict(params))}
    config = {"signature_secret": "sigsecret", "signature_method": "sha256"}
    callback = Callback("GET", "https://cr.example.com/cb", {}, signed, {}, b"")
    VONAGE.verify(config, callback, now * 1000)
    tampered = Callback("GET", "https://cr.example.com/cb", {}, {**signed, "status": "failed"},
                        {}, b"")  # fmt: skip
    with pytest.raises(CallbackRefused, match="signature does not match"):
        VONAGE.verify(config, tampered, now * 1000)


def test_bird_signs_timestamp_url_and_the_bodys_digest() -> None:
    body = b'{"service":"channels","event":"sms.outbound","payload":{"id":"b1"}}'
    stamp = str(int(time.time()))
    url = "https://cr.example.com/callbacks/r1"
    expected = sign.bird("key", stamp, url, body)
    assert bird.signature("key", stamp, url, body) == expected
    headers = {"messagebird-signature": expected, "messagebird-request-timestamp": stamp}
    BIRD.verify({"signing_key": "key"}, Callback("POST", url, headers, {}, {}, body),
                int(stamp) * 1000)  # fmt: skip
    stale = int(stamp) * 1000 + 6 * 60_000
    with pytest.raises(CallbackRefused, match="more than 5 minutes"):
        BIRD.verify({"signing_key": "key"}, Callback("POST", url, headers, {}, {}, body), stale)
