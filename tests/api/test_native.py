"""The native API over HTTP: the happy path, and every kind of bad input changing nothing."""

from __future__ import annotations

from functools import partial

import pytest

from convroute.services.messaging import close_due_windows
from tests.api.conftest import Api


def test_send_report_and_read_back(api_any: Api) -> None:
    api = api_any
    r = api.client.post(
        "/api/v1/messages",
        json={
            "src": "Acme",
            "dst": "+33612345678",
            "text": "Your code is 123456",
            "type": "otp",
            "trackable": True,
            "client_ref": "verif-1",
        },
        headers=api.auth(),
    )
    assert r.status_code == 201, r.text
    sent = r.json()
    assert sent["route"]["name"] == "cheap"
    assert sent["country"] == "FR"
    assert sent["network"] == "SFR"
    mid = sent["id"]
    r = api.client.post(
        f"/api/v1/messages/{mid}/conversions",
        json={"status": "converted", "method": "auto", "timestamp": "2026-01-01T12:00:00Z"},
        headers=api.auth(),
    )
    assert r.status_code == 201, r.text
    conv = r.json()
    again = api.client.post(
        f"/api/v1/messages/{mid}/conversions",
        json={"status": "converted", "method": "auto", "timestamp": "2026-01-01T12:00:00Z"},
        headers=api.auth(),
    )
    assert again.status_code == 200
    assert again.json() == {**conv, "duplicate": True}
    r = api.client.post(
        f"/api/v1/messages/{mid}/dlr", json={"status": "delivered"}, headers=api.auth()
    )
    assert r.status_code == 201, r.text
    view = api.client.get(f"/api/v1/messages/{mid}", headers=api.auth()).json()
    assert view["status"] == "converted"
    assert view["final"] is True
    assert view["client_ref"] == "verif-1"
    assert view["text_length"] == 19
    assert "text" not in view  # OTP bodies are not kept
    assert [c["status"] for c in view["conversions"]] == ["converted"]
    assert view["conversions"][0]["timestamp"] == "2026-01-01T12:00:00.000Z"
    assert view["dlr"]["status"] == "delivered"
    stats = api.client.get(
        "/api/v1/stats/conversions?group_by=country,type", headers=api.auth()
    ).json()
    assert stats["groups"][0]["country"] == "FR"
    assert stats["groups"][0]["conversion_rate"] == 1.0


def test_window_settings(api: Api) -> None:
    r = api.client.put("/api/v1/windows/otp", json={"seconds": 120}, headers=api.auth())
    assert r.status_code == 200
    assert r.json()["otp"] == 120
    assert api.client.get("/api/v1/windows", headers=api.auth(api.other)).json()["otp"] == 600
    mid = api.send()
    view = api.client.get(f"/api/v1/messages/{mid}", headers=api.auth()).json()
    assert view["window_closes_at"] is not None
    r = api.client.delete("/api/v1/windows/otp", headers=api.auth())
    assert r.json()["otp"] == 600
    assert (
        api.client.put("/api/v1/windows/otp", json={"seconds": 0}, headers=api.auth()).status_code
        == 422
    )
    assert (
        api.client.put("/api/v1/windows/sms", json={"seconds": 5}, headers=api.auth()).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("headers", "body", "status", "code", "field"),
    [
        ({"Content-Type": "application/json"}, b"{not json", 400, "malformed_json", None),
        (
            {"Content-Type": "text/plain"},
            b'{"status": "converted"}',
            415,
            "unsupported_media_type",
            None,
        ),
        ({}, b'{"status": "converted"}', 415, "unsupported_media_type", None),
        (
            {"Content-Type": "application/json"},
            b'{"status": "convertd"}',
            422,
            "validation_error",
            "status",
        ),
        (
            {"Content-Type": "application/json"},
            b'{"status": "converted", "extra": 1}',
            422,
            "validation_error",
            "extra",
        ),
        ({"Content-Type": "application/json"}, b"{}", 422, "validation_error", "status"),
        ({"Content-Type": "application/json"}, b'{"status": 1}', 422, "validation_error", "status"),
        (
            {"Content-Type": "application/json"},
            b'{"status": "converted", "timestamp": "yesterday"}',
            422,
            "validation_error",
            "timestamp",
        ),
        (
            {"Content-Type": "application/json"},
            b'{"status": "converted", "timestamp": "2999-01-01T00:00:00Z"}',
            422,
            "validation_error",
            "timestamp",
        ),
        (
            {"Content-Type": "application/json"},
            b'{"status": "converted", "method": "magic"}',
            422,
            "validation_error",
            "method",
        ),
        ({"Content-Type": "application/json"}, b"[]", 422, "validation_error", "body"),
        (
            {"Content-Type": "application/json"},
            b'{"status": "' + b"x" * 70_000 + b'"}',
            413,
            "body_too_large",
            None,
        ),
    ],
)
def test_bad_conversion_input_changes_nothing(
    api: Api, headers: dict[str, str], body: bytes, status: int, code: str, field: str | None
) -> None:
    mid = api.send()
    before = api.counts()
    r = api.client.post(
        f"/api/v1/messages/{mid}/conversions", content=body, headers={**api.auth(), **headers}
    )
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field:
        assert field in error["details"], error
    assert api.counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"src": "Acme", "dst": "123", "text": "x"}, "dst"),
        ({"src": "Acme", "dst": "+14155552671", "text": ""}, "text"),
        ({"src": "", "dst": "+14155552671", "text": "x"}, "src"),
        ({"src": "Acme", "dst": "+14155552671", "text": "x" * 1601}, "text"),
        ({"src": "Acme", "dst": "+14155552671", "text": "x", "type": "sms"}, "type"),
        ({"src": "Acme", "dst": "+14155552671", "text": "x", "trackable": "yes"}, "trackable"),
        ({"src": "Acme", "text": "x"}, "dst"),
    ],
)
def test_bad_send_input_changes_nothing(api: Api, body: dict[str, object], field: str) -> None:
    before = api.counts()
    r = api.client.post("/api/v1/messages", json=body, headers=api.auth())
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["details"]
    assert api.counts() == before


def test_no_route_is_a_clear_422(api: Api) -> None:
    api.disable_routes()
    r = api.client.post(
        "/api/v1/messages",
        json={"src": "A", "dst": "+14155552671", "text": "x"},
        headers=api.auth(),
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "no_route"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic Zm9vOmJhcg=="},
        {"Authorization": "Bearer"},
    ],
)
def test_authentication_is_required(api: Api, headers: dict[str, str]) -> None:
    mid = api.send()
    before = api.counts()
    for method, path, body in [
        ("POST", "/api/v1/messages", {"src": "A", "dst": "+14155552671", "text": "x"}),
        ("POST", f"/api/v1/messages/{mid}/conversions", {"status": "converted"}),
        ("POST", f"/api/v1/messages/{mid}/dlr", {"status": "delivered"}),
        ("GET", f"/api/v1/messages/{mid}", None),
        ("GET", "/api/v1/stats/conversions", None),
        ("GET", "/api/v1/windows", None),
    ]:
        r = api.client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"]["code"] == "unauthorized"
    assert api.counts() == before


def test_accounts_are_isolated(api_any: Api) -> None:
    api = api_any
    mid = api.send()
    before = api.counts()
    other = api.auth(api.other)
    assert api.client.get(f"/api/v1/messages/{mid}", headers=other).status_code == 404
    r = api.client.post(
        f"/api/v1/messages/{mid}/conversions", json={"status": "converted"}, headers=other
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = api.client.post(f"/api/v1/messages/{mid}/dlr", json={"status": "failed"}, headers=other)
    assert r.status_code == 404
    assert api.client.get("/api/v1/stats/conversions", headers=other).json()["groups"] == []
    assert api.counts() == before


@pytest.mark.parametrize("mid", ["nope", "01a20865-ec10-7c64-853b-f6a208d1f991"])
def test_unknown_message_is_404(api: Api, mid: str) -> None:
    r = api.client.post(
        f"/api/v1/messages/{mid}/conversions", json={"status": "converted"}, headers=api.auth()
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("group_by=planet", "group_by"),
        ("group_by=country,country", "group_by"),
        ("from=soon", "from"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("colour=red", "colour"),
    ],
)
def test_bad_stats_queries(api: Api, query: str, field: str) -> None:
    r = api.client.get(f"/api/v1/stats/conversions?{query}", headers=api.auth())
    assert r.status_code == 422
    assert field in r.json()["error"]["details"]


def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    r = api.client.get("/api/v1/nothing")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = api.client.delete("/api/v1/messages")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_window_closes_through_the_server(api: Api) -> None:
    api.client.put("/api/v1/windows/otp", json={"seconds": 1}, headers=api.auth())
    mid = api.send()
    closed = api.container.store.write(
        partial(close_due_windows, now_ms=api.container.clock() + 1_001)
    )
    assert closed == 1
    view = api.client.get(f"/api/v1/messages/{mid}", headers=api.auth()).json()
    assert (view["status"], view["status_source"], view["final"]) == (
        "not_converted",
        "window",
        True,
    )


def test_the_server_sweeps_due_windows_by_itself(tmp_path, sqlite_template) -> None:  # type: ignore[no-untyped-def]
    import shutil
    import time

    from convroute.bootstrap import bootstrap
    from convroute.config import Settings
    from tests.api.conftest import make_api
    from tests.conftest import SECRET_KEY

    path = tmp_path / "sweep.db"
    shutil.copy(sqlite_template, path)
    c = bootstrap(
        Settings(
            database_url=f"sqlite:///{path}", secret_key=SECRET_KEY, window_sweep_seconds=0.05
        ),
        migrate=False,
    )
    for api in make_api(c):
        api.client.put("/api/v1/windows/otp", json={"seconds": 1}, headers=api.auth())
        mid = api.send()
        deadline = time.monotonic() + 5
        status = None
        while time.monotonic() < deadline and status != "not_converted":
            time.sleep(0.1)
            status = api.client.get(f"/api/v1/messages/{mid}", headers=api.auth()).json()["status"]
        assert status == "not_converted"
    c.close()
