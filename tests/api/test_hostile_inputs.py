"""Hand-made bad input an attacker or a careless client sends: invalid UTF-8 inside a JSON
string, JSON nested past any decoder's stack, timestamps that only look like numbers, probes
for which keys exist, replays. Each is the dialect's own 4xx and changes nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from httpx import Response

from convroute.domain.models import SignatureMethod
from convroute.domain.signatures import sign
from tests.api.conftest import ADMIN, Api

JSON = {"Content-Type": "application/json"}

Post = Callable[[Api, str, bytes], Response]


def native_send(api: Api, mid: str, body: bytes) -> Response:
    return api.client.post("/api/v1/messages", content=body, headers={**api.auth(), **JSON})


def native_conversion(api: Api, mid: str, body: bytes) -> Response:
    return api.client.post(
        f"/api/v1/messages/{mid}/conversions", content=body, headers={**api.auth(), **JSON}
    )


def native_dlr(api: Api, mid: str, body: bytes) -> Response:
    return api.client.post(
        f"/api/v1/messages/{mid}/dlr", content=body, headers={**api.auth(), **JSON}
    )


def plivo_send(api: Api, mid: str, body: bytes) -> Response:
    auth_id, token = api.plivo_auth()
    return api.client.post(
        f"/v1/Account/{auth_id}/Message/", content=body, headers=JSON, auth=(auth_id, token)
    )


def plivo_conversion(api: Api, mid: str, body: bytes) -> Response:
    auth_id, token = api.plivo_auth()
    return api.client.post(
        f"/v1/Account/{auth_id}/Message/{mid}/Conversion/",
        content=body,
        headers=JSON,
        auth=(auth_id, token),
    )


def vonage_send(api: Api, mid: str, body: bytes) -> Response:
    shown = api.shown("vonage")
    return api.client.post(
        "/sms/json",
        params={"api_key": shown["api_key"], "api_secret": shown["api_secret"]},
        content=body,
        headers=JSON,
    )


def bird_conversion(api: Api, mid: str, body: bytes) -> Response:
    ws = api.shown("bird")["workspace_id"]
    return api.client.post(
        f"/workspaces/{ws}/channels/any/messages/{mid}/conversions",
        content=body,
        headers={**api.bird_headers(), **JSON},
    )


def routes_create(api: Api, mid: str, body: bytes) -> Response:
    return api.client.post(
        "/api/v1/routes", content=body, headers={"Authorization": f"Bearer {ADMIN}", **JSON}
    )


# (post, a body that names a string field, the dialect's status for unreadable JSON)
ENDPOINTS: dict[str, tuple[Post, str, int]] = {
    "native-send": (native_send, '{"src": "Acme", "dst": "+14155552671", "text": %s}', 400),
    "native-conversion": (native_conversion, '{"status": %s}', 400),
    "native-dlr": (native_dlr, '{"status": "delivered", "error_code": %s}', 400),
    "plivo-send": (plivo_send, '{"src": "1415", "dst": "14155552671", "text": %s}', 400),
    "plivo-conversion": (plivo_conversion, '{"status": %s, "timestamp": "x"}', 400),
    "vonage-send": (vonage_send, '{"from": "Acme", "to": "447700900001", "text": %s}', 200),
    "bird-conversion": (bird_conversion, '{"type": "otp", "status": %s}', 422),
    "routes": (routes_create, '{"name": %s, "destinations": []}', 400),
}
NESTED_FIELD = {  # a free-form object field, where one exists
    "plivo-send": '{"src": "1415", "dst": "14155552671", "text": "x", "template": %s}',
    "routes": '{"name": "r", "destinations": [], "config": %s}',
}


@pytest.fixture
def hostile(admin: Api) -> Api:
    return admin


def _refused(api: Api, post: Post, body: bytes, status: int) -> Response:
    mid = api.send()  # for the endpoints that report on a message
    before = api.counts()
    r = post(api, mid, body)
    assert r.status_code == status, r.text
    if status == 200:  # Vonage's SMS API: HTTP 200, a non-zero status
        assert r.json()["messages"][0]["status"] == "3", r.text
    assert r.headers["content-type"].startswith("application/json")
    assert api.counts() == before
    return r


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_invalid_utf8_inside_a_json_string(hostile: Api, endpoint: str) -> None:
    post, template, status = ENDPOINTS[endpoint]
    body = (template % '"ab\xffcd"').encode("latin-1")
    r = _refused(hostile, post, body, status)
    assert "UTF-8" in r.text


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("depth", [200, 5000])
def test_deeply_nested_json(hostile: Api, endpoint: str, depth: int) -> None:
    post, template, status = ENDPOINTS[endpoint]
    template = NESTED_FIELD.get(endpoint, template)
    nested = '{"a": ' * depth + "1" + "}" * depth
    mid = hostile.send()
    before = hostile.counts()
    r = post(hostile, mid, (template % nested).encode())
    assert 400 <= r.status_code < 500 or (status == 200 and r.status_code == 200), r.text
    if status == 200:
        assert r.json()["messages"][0]["status"] in ("2", "3"), r.text
    assert hostile.counts() == before


def _vonage_conversion(api: Api, **params: str) -> Response:
    shown = api.shown("vonage")
    return api.client.post(
        "/conversions/sms",
        data={"api_key": shown["api_key"], "api_secret": shown["api_secret"], **params},
    )


@pytest.mark.parametrize(
    "timestamp",
    [
        "²",
        "¹²³",
        "\uff11\uff17" + "\uff10" * 8,
        "٣٤٥",
        "0",
        "1",
        "946684799",
        "1" * 24,
        "-5",
        "1e9",
    ],
)
def test_vonage_timestamps_are_ascii_seconds_since_2000(hostile: Api, timestamp: str) -> None:
    api = hostile
    mid = api.send()
    before = api.counts()
    r = _vonage_conversion(api, **{"message-id": mid, "delivered": "1", "timestamp": timestamp})
    assert r.status_code == 420, r.text
    assert "timestamp" in r.text
    assert api.counts() == before


def test_vonage_unix_timestamp_in_range_is_taken(hostile: Api) -> None:
    api = hostile
    mid = api.send()
    at = int(time.time()) - 60
    r = _vonage_conversion(api, **{"message-id": mid, "delivered": "1", "timestamp": str(at)})
    assert r.status_code == 200, r.text
    assert api.view(mid)["conversions"][0]["timestamp"].startswith(
        time.strftime("%Y-%m-%dT%H:%M", time.gmtime(at))
    )


def _signed(api: Api, params: dict[str, str], key: str | None = None) -> dict[str, str]:
    shown = api.shown("vonage")
    out = {**params, "api_key": key or shown["api_key"], "timestamp": str(int(time.time()))}
    out["sig"] = sign(out, shown["signature_secret"], SignatureMethod(shown["signature_method"]))
    return out


@pytest.mark.parametrize("path", ["/conversions/sms", "/sms/json"])
def test_signed_failures_do_not_tell_which_keys_exist(hostile: Api, path: str) -> None:
    api = hostile
    mid = api.send()
    params = (
        {"message-id": mid, "delivered": "1"}
        if path.startswith("/conversions")
        else {"from": "Acme", "to": "447700900001", "text": "x"}
    )
    known = _signed(api, params)
    known["sig"] = "0" * 64  # an existing key, a wrong signature
    unknown = _signed(api, params, key="ffffffff")  # a key nobody has, a real signature
    answers = [api.client.post(path, data=p) for p in (known, unknown)]
    assert answers[0].status_code == answers[1].status_code
    if path == "/sms/json":
        texts = [r.json()["messages"][0] for r in answers]
        assert texts[0]["status"] == texts[1]["status"] == "14"
        assert texts[0]["error-text"] == texts[1]["error-text"]
    else:
        assert answers[0].status_code == 401
        assert answers[0].text == answers[1].text
    # stale, for a known and an unknown key alike
    for key in (api.shown("vonage")["api_key"], "ffffffff"):
        stale = {**params, "api_key": key, "timestamp": str(int(time.time()) - 3600), "sig": "ab"}
        r = api.client.post(path, data=stale)
        assert "5 minutes" in r.text, r.text


def test_a_replayed_signed_send_is_status_14(hostile: Api) -> None:
    api = hostile
    params = _signed(api, {"from": "Acme", "to": "447700900001", "text": "code 1"})
    first = api.client.post("/sms/json", data=params).json()["messages"][0]
    assert first["status"] == "0", first
    before = api.counts()
    again = api.client.post("/sms/json", data=params).json()["messages"][0]
    assert again["status"] == "14", again
    assert "replay" in again["error-text"]
    assert api.counts() == before
