"""Bird's dialect over HTTP: what the spec test does not cover (authentication, workspaces,
what is stored, conversions disabled)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api


def path(api: Api, message_id: str, workspace: str | None = None, kind: str = "channels") -> str:
    ws = workspace or api.shown("bird")["workspace_id"]
    channel = "c0ffee00-0000-4000-8000-000000000000"
    return f"/workspaces/{ws}/{kind}/{channel}/messages/{message_id}/conversions"


def test_conversion_is_stored_with_type_method_time_and_class(api_any: Api) -> None:
    api = api_any
    mid = api.send(type="url")
    r = api.client.post(
        path(api, mid, kind="navigators"),
        json={"type": "url", "status": "incorrect_code", "method": "manual",
              "timestamp": "2026-03-01T10:00:00.250+01:00"},
        headers=api.bird_headers(),
    )  # fmt: skip
    assert (r.status_code, r.content) == (204, b"")
    view = api.view(mid)
    assert view["status"] == "incorrect_code"
    assert view["final"] is False  # temporary: the window stays open
    (event,) = view["conversions"]
    assert (event["type"], event["method"], event["dialect"], event["traffic_class"]) == (
        "url",
        "manual",
        "bird",
        "2fa",
    )
    assert event["timestamp"] == "2026-03-01T09:00:00.250Z"
    r = api.client.post(
        path(api, mid), json={"type": "url", "status": "converted"}, headers=api.bird_headers()
    )
    assert r.status_code == 204
    assert api.view(mid)["status"] == "converted"


def test_method_defaults_to_unknown_and_a_repeat_is_204(api: Api) -> None:
    mid = api.send()
    body = {"type": "otp", "status": "resent", "timestamp": "2026-03-01T10:00:00Z"}
    assert api.client.post(path(api, mid), json=body, headers=api.bird_headers()).status_code == 204
    before = api.counts()
    assert api.client.post(path(api, mid), json=body, headers=api.bird_headers()).status_code == 204
    assert api.counts() == before
    assert api.view(mid)["conversions"][0]["method"] == "unknown"


@pytest.mark.parametrize(
    "authorization",
    [None, "AccessKey", "AccessKey wrong-key", "Bearer {key}", "Basic {key}"],
)
def test_access_key_is_required(api: Api, authorization: str | None) -> None:
    mid = api.send()
    key = api.shown("bird")["access_key"]
    headers = {"Authorization": authorization.format(key=key)} if authorization else {}
    before = api.counts()
    r = api.client.post(path(api, mid), json={"type": "otp", "status": "converted"},
                        headers=headers)  # fmt: skip
    assert r.status_code == 401
    assert r.json()["code"] == "Unauthorized"
    assert api.counts() == before


def test_key_is_bound_to_its_workspace(api: Api) -> None:
    mid = api.send()
    other_ws = api.shown("bird", api.other)["workspace_id"]
    before = api.counts()
    r = api.client.post(
        path(api, mid, workspace=other_ws),
        json={"type": "otp", "status": "converted"},
        headers=api.bird_headers(),
    )
    assert r.status_code == 404
    assert "workspace" in r.json()["message"]
    assert api.counts() == before


def test_conversions_disabled_is_403(api: Api) -> None:
    mid = api.send()
    api.disable_conversions()
    before = api.counts()
    r = api.client.post(
        path(api, mid), json={"type": "otp", "status": "converted"}, headers=api.bird_headers()
    )
    assert r.status_code == 403
    assert r.json()["code"] == "Forbidden"
    assert api.counts() == before


def test_wrong_media_type_and_unknown_path(api: Api) -> None:
    mid = api.send()
    r = api.client.post(
        path(api, mid),
        content=b"type=otp&status=converted",
        headers={**api.bird_headers(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "InvalidPayload"
    r = api.client.get(path(api, mid), headers=api.bird_headers())
    assert r.status_code == 405
    assert set(r.json()) == {"code", "message"}
