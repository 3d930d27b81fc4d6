"""Plivo's dialect over HTTP: send with trackable, Conversion Feedback, and every documented
error answered in Plivo's shape without changing anything."""

from __future__ import annotations

from typing import Any

import pytest

from convroute.domain.ids import new_id
from tests.api.conftest import Api

STAMP = "2026-01-01T09:00:43.511Z"


def send(api: Api, **body: object) -> list[str]:
    auth_id, token = api.plivo_auth()
    payload: dict[str, object] = {"src": "14155551111", "dst": "14155552222", "text": "code 1"}
    payload.update(body)
    r = api.client.post(f"/v1/Account/{auth_id}/Message/", json=payload, auth=(auth_id, token))
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["message"] == "message(s) queued"
    assert out["api_id"]
    uuids: list[str] = out["message_uuid"]
    return uuids


def test_send_trackable_then_report_conversion(api_any: Api) -> None:
    api = api_any
    (mid,) = send(api, trackable=True, method="POST", log="true", url="https://example.com/cb")
    view = api.view(mid)
    assert view["trackable"] is True
    assert view["dialect"] == "plivo"
    assert view["type"] == "otp"  # a 2FA credential's messages are OTPs
    assert view["window_closes_at"] is not None
    auth_id, token = api.plivo_auth()
    r = api.client.post(
        f"/v1/Account/{auth_id}/Message/{mid}/Conversion/",
        json={"timestamp": STAMP, "status": "CONVERTED"},
        auth=(auth_id, token),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"api_id", "conversion_uuid", "message", "message_uuid"}
    assert body["message"] == "successfully recorded."
    assert body["message_uuid"] == mid
    assert body["conversion_uuid"] == f"conv-{mid}"
    view = api.view(mid)
    assert view["status"] == "converted"
    (event,) = view["conversions"]
    assert event["timestamp"] == "2026-01-01T09:00:43.511Z"
    assert event["dialect"] == "plivo"
    assert event["traffic_class"] == "2fa"
    assert event["id"] == r.headers["x-convroute-event-id"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/Account/{auth_id}/Message/{mid}/Conversion/",
        "/v1/Account/{auth_id}/Message/{mid}/Conversion",
        "/v1/account/{auth_id}/message/{mid}/conversion/",
        "/v1/account/{auth_id}/message/{mid}/conversion",
    ],
)
def test_both_casings_with_and_without_slash(api: Api, path: str) -> None:
    (mid,) = send(api, trackable=True)
    auth_id, token = api.plivo_auth()
    r = api.client.post(
        path.format(auth_id=auth_id, mid=mid),
        json={"status": "NOT_CONVERTED", "timestamp": STAMP},
        auth=(auth_id, token),
    )
    assert r.status_code == 200, r.text
    assert api.view(mid)["status"] == "not_converted"


@pytest.mark.parametrize(
    ("plivo", "ours"),
    [
        ("CONVERTED", "converted"),
        ("NOT_CONVERTED", "not_converted"),
        ("CONVERTED_WITH_OTHERS", "converted_other"),
    ],
)
def test_status_mapping(api: Api, plivo: str, ours: str) -> None:
    (mid,) = send(api, trackable=True)
    auth_id, token = api.plivo_auth()
    r = api.client.post(
        f"/v1/Account/{auth_id}/Message/{mid}/Conversion/",
        json={"status": plivo, "timestamp": STAMP},
        auth=(auth_id, token),
    )
    assert r.status_code == 200
    assert api.view(mid)["status"] == ours


def test_bulk_send_to_several_destinations(api: Api) -> None:
    uuids = send(api, dst="14155552222<33612345678<14155552222", trackable=True)
    assert len(uuids) == 2  # the repeated number is sent once
    assert {api.view(u)["country"] for u in uuids} == {"US", "FR"}


def test_not_trackable_has_no_window(api: Api) -> None:
    (mid,) = send(api)
    assert api.view(mid)["window_closes_at"] is None


def _error(r: object, status: int) -> str:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"api_id", "error"}
    assert body["api_id"]
    error: str = body["error"]
    return error


@pytest.mark.parametrize(
    ("content_type", "body", "status", "needle"),
    [
        ("application/json", b'{"status": "CONVERTED"}', 400, "timestamp"),
        ("application/json", b'{"timestamp": "2026-01-01T00:00:00Z"}', 400, "status"),
        ("application/json", b'{"status": "converted", "timestamp": "2026-01-01T00:00:00Z"}', 400,
         "status"),
        ("application/json", b'{"status": "CONVERTED", "timestamp": "yesterday"}', 400,
         "timestamp"),
        ("application/json", b'{"status": "CONVERTED", "timestamp": "2999-01-01T00:00:00Z"}',
         400, "future"),
        ("application/json", b"{nope", 400, "JSON"),
        ("application/x-www-form-urlencoded", b"status=CONVERTED&timestamp=x", 415,
         "application/json"),
        ("text/plain", b'{"status": "CONVERTED", "timestamp": "2026-01-01T00:00:00Z"}', 415,
         "application/json"),
    ],
)  # fmt: skip
def test_bad_conversion_input_changes_nothing(
    api: Api, content_type: str, body: bytes, status: int, needle: str
) -> None:
    (mid,) = send(api, trackable=True)
    auth_id, token = api.plivo_auth()
    before = api.counts()
    r = api.client.post(
        f"/v1/Account/{auth_id}/Message/{mid}/Conversion/",
        content=body,
        headers={"Content-Type": content_type},
        auth=(auth_id, token),
    )
    assert needle in _error(r, status)
    assert api.counts() == before


def test_too_large_body_is_413(api: Api) -> None:
    (mid,) = send(api, trackable=True)
    auth_id, token = api.plivo_auth()
    huge = b'{"status": "CONVERTED", "timestamp": "' + b"x" * 2_000_000 + b'"}'
    r = api.client.post(
        f"/v1/Account/{auth_id}/Message/{mid}/Conversion/",
        content=huge,
        headers={"Content-Type": "application/json"},
        auth=(auth_id, token),
    )
    _error(r, 413)


@pytest.mark.parametrize(
    "credentials",
    [
        None,  # no Authorization header
        ("wrong", "token"),  # unknown auth_id (and not the path's)
        ("own", "wrong-token"),  # right auth_id, wrong token
        ("other", "other"),  # another account's valid credentials on this path
    ],
)
def test_authentication(api: Api, credentials: tuple[str, str] | None) -> None:
    (mid,) = send(api, trackable=True)
    auth_id, _ = api.plivo_auth()
    if credentials == ("own", "wrong-token"):
        credentials = (auth_id, "x" * 40)
    elif credentials == ("other", "other"):
        credentials = api.plivo_auth(api.other)
    before = api.counts()
    r = api.client.post(
        f"/v1/Account/{auth_id}/Message/{mid}/Conversion/",
        json={"status": "CONVERTED", "timestamp": STAMP},
        auth=credentials,
    )
    _error(r, 401)
    assert r.headers["www-authenticate"].startswith("Basic")
    assert api.counts() == before


def report(api: Api, mid: str, credentials: tuple[str, str]) -> Any:
    return api.client.post(
        f"/v1/Account/{credentials[0]}/Message/{mid}/Conversion/",
        json={"status": "CONVERTED", "timestamp": STAMP},
        auth=credentials,
    )


def test_unknown_or_foreign_message_is_404(api: Api) -> None:
    (mid,) = send(api, trackable=True)
    before = api.counts()
    for message in (new_id(), "not-a-uuid", mid):
        r = report(api, message, api.plivo_auth(api.other))
        assert "not found" in _error(r, 404)
    assert api.counts() == before
    assert api.view(mid)["conversions"] == []


def test_conversions_disabled_is_403(api: Api) -> None:
    (mid,) = send(api, trackable=True)
    api.disable_conversions()
    before = api.counts()
    assert "not enabled" in _error(report(api, mid, api.plivo_auth()), 403)
    assert api.counts() == before


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"src": "14155551111", "text": "x"}, "dst"),
        ({"dst": "14155552222", "text": "x"}, "src"),
        ({"src": "14155551111", "dst": "14155552222"}, "text"),
        ({"src": "14155551111", "dst": "1415", "text": "x"}, "dst"),
        ({"src": "14155552222", "dst": "14155552222", "text": "x"}, "same as source"),
        ({"src": "1", "dst": "14155552222", "text": "x", "type": "mms"}, "sms"),
        ({"src": "1", "dst": "14155552222", "text": "x", "media_urls": ["u"]}, "MMS"),
        ({"dst": "14155552222", "text": "x", "powerpack_uuid": "p"}, "powerpack"),
        ({"src": "1", "dst": "14155552222", "text": "x", "trackable": "maybe"}, "trackable"),
        ({"src": "1", "dst": "14155552222", "text": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_send_changes_nothing(api: Api, body: dict[str, object], needle: str) -> None:
    auth_id, token = api.plivo_auth()
    before = api.counts()
    r = api.client.post(f"/v1/Account/{auth_id}/Message/", json=body, auth=(auth_id, token))
    assert needle in _error(r, 400)
    assert api.counts() == before


def test_send_without_route_is_400(api: Api) -> None:
    auth_id, token = api.plivo_auth()
    api.disable_routes()
    before = api.counts()
    r = api.client.post(
        f"/v1/Account/{auth_id}/Message/",
        json={"src": "1", "dst": "14155552222", "text": "x"},
        auth=(auth_id, token),
    )
    assert "route" in _error(r, 400)
    assert api.counts() == before


def test_wrong_method_answers_in_plivo_shape(api: Api) -> None:
    auth_id, token = api.plivo_auth()
    r = api.client.delete(f"/v1/Account/{auth_id}/Message/", auth=(auth_id, token))
    _error(r, 405)
