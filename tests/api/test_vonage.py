"""Vonage's dialect over HTTP: /sms/json and the Conversion API with every way to
authenticate, and each documented status (401, 402, 420, 423) changing nothing."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest

from convroute.api.dialects.vonage import SIGNATURE_WINDOW_MS, nonce_keys
from convroute.domain.commands import Nonce
from convroute.domain.ids import new_id
from convroute.domain.models import SignatureMethod
from convroute.domain.signatures import sign
from convroute.domain.statuses import Dialect, TrafficClass
from convroute.services.accounts import issue_credential
from tests.api.conftest import Api

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def keys(api: Api, who: object = None) -> dict[str, str]:
    return {k: api.shown("vonage", who)[k] for k in ("api_key", "api_secret")}  # type: ignore[arg-type]


def signed(api: Api, params: dict[str, str], who: object = None) -> dict[str, str]:
    """``params`` with api_key and sig, signed the way Vonage's SDKs sign."""
    shown = api.shown("vonage", who)  # type: ignore[arg-type]
    out = {**params, "api_key": shown["api_key"]}
    out.setdefault("timestamp", str(int(time.time())))
    out["sig"] = sign(out, shown["signature_secret"], SignatureMethod(shown["signature_method"]))
    return out


def send_sms(api: Api, **extra: str) -> str:
    params = {**keys(api), "from": "Acme", "to": "447700900001", "text": "code 1", **extra}
    r = api.client.post("/sms/json", data=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message-count"] == "1"
    (message,) = body["messages"]
    assert message["status"] == "0", message
    message_id: str = message["message-id"]
    return message_id


def test_send_then_convert_with_key_and_secret_in_the_query(api_any: Api) -> None:
    api = api_any
    mid = send_sms(api, **{"client-ref": "login-7"})
    view = api.view(mid)
    assert (view["dialect"], view["type"], view["trackable"]) == ("vonage", "otp", True)
    assert view["client_ref"] == "login-7"
    r = api.client.post(
        "/conversions/sms",
        params={**keys(api), "message-id": mid, "delivered": "true",
                "timestamp": "2026-01-02 03:04:05"},
    )  # fmt: skip
    assert (r.status_code, r.text) == (200, "OK")
    view = api.view(mid)
    assert view["status"] == "converted"
    (event,) = view["conversions"]
    assert event["timestamp"] == "2026-01-02T03:04:05.000Z"
    assert (event["dialect"], event["traffic_class"]) == ("vonage", "2fa")


def test_send_response_shape(api: Api) -> None:
    r = api.client.post(
        "/sms/json",
        data={**keys(api), "from": "Acme", "to": "447700900001", "text": "x", "client-ref": "c"},
    )
    (message,) = r.json()["messages"]
    assert set(message) == {
        "to", "message-id", "status", "message-price", "remaining-balance", "network",
        "client-ref",
    }  # fmt: skip
    assert message["to"] == "447700900001"
    assert message["message-price"] == "0.02000000"


def test_send_with_basic_auth_and_json_body(api: Api) -> None:
    k = keys(api)
    token = base64.b64encode(f"{k['api_key']}:{k['api_secret']}".encode()).decode()
    r = api.client.post(
        "/sms/json",
        json={"from": "Acme", "to": "447700900001", "text": "x"},
        headers={"Authorization": f"Basic {token}"},
    )
    assert r.json()["messages"][0]["status"] == "0"


def test_signed_send_and_signed_conversion_in_a_form_body(api: Api) -> None:
    r = api.client.post(
        "/sms/json", data=signed(api, {"from": "Acme", "to": "447700900001", "text": "a&b=c"})
    )
    mid = r.json()["messages"][0]["message-id"]
    params = signed(api, {"message-id": mid, "delivered": "0"})
    r = api.client.post("/conversions/sms", data=params)
    assert (r.status_code, r.text) == (200, "OK")
    assert api.view(mid)["status"] == "not_converted"


@pytest.mark.parametrize(
    ("delivered", "status"),
    [("true", "converted"), ("1", "converted"), ("True", "converted"),
     ("false", "not_converted"), ("0", "not_converted")],
)  # fmt: skip
def test_delivered_values(api: Api, delivered: str, status: str) -> None:
    mid = send_sms(api)
    r = api.client.post(
        "/conversions/voice", params={**keys(api), "message-id": mid, "delivered": delivered}
    )
    assert r.status_code == 200
    assert api.view(mid)["status"] == status


def test_a_date_timestamp_may_be_the_signed_one(api: Api) -> None:
    mid = send_sms(api)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    r = api.client.post(
        "/conversions/sms",
        data=signed(api, {"message-id": mid, "delivered": "1", "timestamp": now}),
    )
    assert r.status_code == 200, r.text
    assert api.view(mid)["conversions"][0]["timestamp"].startswith(now.replace(" ", "T"))


def test_other_traffic_class_is_recorded_with_the_event(api: Api) -> None:
    issued = issue_credential(
        api.acme.account.id, Dialect.VONAGE, TrafficClass.OTHER, api.container.clock()
    )
    api.container.store.add_credential(issued)
    k = {"api_key": issued.shown["api_key"], "api_secret": issued.shown["api_secret"]}
    r = api.client.post("/sms/json", data={**k, "from": "A", "to": "447700900001", "text": "x"})
    mid = r.json()["messages"][0]["message-id"]
    view = api.view(mid)
    assert (view["type"], view["trackable"], view["traffic_class"]) == ("other", False, "other")
    r = api.client.post("/conversions/sms", data={**k, "message-id": mid, "delivered": "1"})
    assert r.status_code == 200
    assert api.view(mid)["conversions"][0]["traffic_class"] == "other"


# -- 401 ----------------------------------------------------------------------------------------


def _refused(api: Api, params: dict[str, str], status: int, needle: str, **kw: object) -> None:
    before = api.counts()
    r = api.client.post("/conversions/sms", data=params, **kw)  # type: ignore[arg-type]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert needle in r.text
    assert api.counts() == before


def test_credentials_are_required(api: Api) -> None:
    mid = send_sms(api)
    base = {"message-id": mid, "delivered": "1"}
    k = keys(api)
    _refused(api, base, 401, "credentials are required")
    _refused(api, {**base, "api_key": k["api_key"]}, 401, "api_secret")
    _refused(api, {**base, "api_key": k["api_key"], "api_secret": "wrong"}, 401, "invalid")
    _refused(api, {**base, "api_key": "nope", "api_secret": k["api_secret"]}, 401, "invalid")
    other = keys(api, api.other)
    basic = base64.b64encode(f"{k['api_key']}:{other['api_secret']}".encode()).decode()
    _refused(api, base, 401, "invalid", headers={"Authorization": f"Basic {basic}"})


def test_bad_signatures_are_refused(api: Api) -> None:
    mid = send_sms(api)
    base = {"message-id": mid, "delivered": "1"}
    good = signed(api, base)
    _refused(api, {**good, "delivered": "0"}, 401, "or signature")  # tampered
    _refused(api, {**good, "sig": "0" * 64}, 401, "or signature")
    _refused(api, {**good, "api_secret": keys(api)["api_secret"]}, 401, "not both")
    stale = signed(api, {**base, "timestamp": str(int(time.time()) - 301)})
    _refused(api, stale, 401, "5 minutes")
    future = signed(api, {**base, "timestamp": str(int(time.time()) + 301)})
    _refused(api, future, 401, "5 minutes")
    no_time = {**base, "api_key": keys(api)["api_key"], "sig": "abc"}
    _refused(api, no_time, 401, "timestamp")
    # signed with another account's secret, under this account's key
    forged = {**base, "api_key": keys(api)["api_key"], "timestamp": str(int(time.time()))}
    other = api.shown("vonage", api.other)
    forged["sig"] = sign(forged, other["signature_secret"], SignatureMethod.SHA256)
    _refused(api, forged, 401, "or signature")


def test_a_replayed_signature_is_refused(api: Api) -> None:
    mid = send_sms(api)
    params = signed(api, {"message-id": mid, "delivered": "1"})
    r = api.client.post("/conversions/sms", data=params)
    assert r.status_code == 200
    _refused(api, params, 401, "replay")
    # the same signed request in the query string instead of the body is the same request
    before = api.counts()
    assert api.client.post("/conversions/sms", params=params).status_code == 401
    assert api.counts() == before


def test_a_signature_recorded_by_an_earlier_version_is_still_refused(api: Api) -> None:
    """Before keys were ordered by time, ``used_nonces`` held the digest alone: a request
    accepted just before an upgrade must not be accepted again after it."""
    mid = send_sms(api)
    params = signed(api, {"message-id": mid, "delivered": "1"})
    signed_ms = int(params["timestamp"]) * 1000
    key, earlier = nonce_keys(params["api_key"], params["sig"], signed_ms)
    assert len(key) == len(earlier) == 64
    assert key[8:] == earlier[:56] != key[:56]
    api.container.store.write(
        lambda tx: tx.claim_nonces([Nonce(earlier, signed_ms + SIGNATURE_WINDOW_MS)])
    )
    _refused(api, params, 401, "replay")
    again = signed(api, {"message-id": mid, "delivered": "0"})
    assert api.client.post("/conversions/sms", data=again).status_code == 200


def test_a_refused_signed_request_does_not_burn_its_signature(api: Api) -> None:
    params = signed(api, {"message-id": new_id(), "delivered": "1"})
    before = api.counts()  # used_nonces among them: the signature is not kept
    assert api.client.post("/conversions/sms", data=params).status_code == 423
    assert api.counts() == before
    assert api.client.post("/conversions/sms", data=params).status_code == 423  # not a replay


# -- 402, 420, 423 -------------------------------------------------------------------------------


def test_conversions_disabled_is_402(api: Api) -> None:
    mid = send_sms(api)
    api.disable_conversions()
    _refused(api, {**keys(api), "message-id": mid, "delivered": "1"}, 402, "not been enabled")


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"delivered": "1"}, "message-id"),
        ({"message-id": "MID"}, "delivered"),
        ({"message-id": "MID", "delivered": "yes"}, "delivered"),
        ({"message-id": "MID", "delivered": "1", "timestamp": "2026-13-01 00:00:00"}, "timestamp"),
        ({"message-id": "MID", "delivered": "1", "timestamp": "2999-01-01 00:00:00"}, "future"),
        ({"message-id": "MID", "delivered": "1", "timestamp": "2026-01-01T00:00:00Z"},
         "timestamp"),
    ],
)  # fmt: skip
def test_invalid_parameters_are_420(api: Api, params: dict[str, str], needle: str) -> None:
    mid = send_sms(api)
    params = {k: v.replace("MID", mid) for k, v in params.items()}
    _refused(api, {**keys(api), **params}, 420, needle)


def test_a_parameter_given_twice_is_420(api: Api) -> None:
    mid = send_sms(api)
    before = api.counts()
    r = api.client.post(
        "/conversions/sms",
        params={**keys(api), "message-id": mid, "delivered": "1"},
        data={"delivered": "0"},
    )
    assert r.status_code == 420
    assert "more than once" in r.text
    assert api.counts() == before


def test_unknown_or_foreign_message_is_423(api: Api) -> None:
    mid = send_sms(api)
    for message in (new_id(), "0A0000000123ABCD1"):
        _refused(api, {**keys(api), "message-id": message, "delivered": "1"}, 423, "message-id")
    _refused(api, {**keys(api, api.other), "message-id": mid, "delivered": "1"}, 423, mid)
    assert api.view(mid)["conversions"] == []


def test_json_body_to_conversions_is_415(api: Api) -> None:
    mid = send_sms(api)
    before = api.counts()
    r = api.client.post("/conversions/sms", json={**keys(api), "message-id": mid, "delivered": "1"})
    assert r.status_code == 415
    assert api.counts() == before


# -- /sms/json errors: HTTP 200 with a status code in the body ----------------------------------


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"to": "447700900001", "text": "x"}, "2", "from"),
        ({"from": "A", "text": "x"}, "2", "to"),
        ({"from": "A", "to": "447700900001"}, "2", "text"),
        ({"from": "A", "to": "12", "text": "x"}, "3", "to"),
        ({"from": "A", "to": "447700900001", "text": "x", "type": "binary"}, "3", "type"),
        ({"from": "A", "to": "447700900001", "text": "x", "client-ref": "r" * 101}, "3",
         "client-ref"),
    ],
)  # fmt: skip
def test_send_errors(api: Api, params: dict[str, str], status: str, needle: str) -> None:
    before = api.counts()
    r = api.client.post("/sms/json", data={**keys(api), **params})
    assert r.status_code == 200
    (message,) = r.json()["messages"]
    assert message["status"] == status
    assert needle in message["error-text"]
    assert api.counts() == before


def test_send_auth_errors(api: Api) -> None:
    before = api.counts()
    msg = {"from": "A", "to": "447700900001", "text": "x"}
    r = api.client.post("/sms/json", data={**msg, "api_key": "k", "api_secret": "s"})
    assert r.json()["messages"][0]["status"] == "4"
    bad = {**signed(api, msg), "text": "y"}
    assert api.client.post("/sms/json", data=bad).json()["messages"][0]["status"] == "14"
    assert api.counts() == before


def test_send_without_route_is_status_6(api: Api) -> None:
    api.disable_routes()
    before = api.counts()
    r = api.client.post("/sms/json", data={**keys(api), "from": "A", "to": "447700900001",
                                           "text": "x"})  # fmt: skip
    assert r.json()["messages"][0]["status"] == "6"
    assert api.counts() == before
