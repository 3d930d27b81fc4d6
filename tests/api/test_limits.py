"""Rate limits over HTTP: failed authentication locks a credential id and a client address
(429 with Retry-After, in each dialect's error format, before anything is checked), and an
account past its request rate gets 429 while other accounts do not."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pytest
from httpx import Response

from convroute.domain.models import SignatureMethod
from convroute.domain.signatures import sign
from tests.api.conftest import ADMIN, Api
from tests.scrape import value

FROZEN = 1_800_000_000_000  # the limiter's clock stands still: no window ends mid-test


@pytest.fixture
def limited(admin: Api) -> Api:
    admin.container.limiter.clock = lambda: FROZEN
    return admin


def _set_limits(api: Api, **changes: int | float) -> None:
    api.container.limiter.limits = dataclasses.replace(api.container.limiter.limits, **changes)


def plivo(api: Api, secret: str | None = None) -> Response:
    auth_id, token = api.plivo_auth()
    return api.client.post(
        f"/v1/Account/{auth_id}/Message/",
        json={"src": "14155551111", "dst": "14155552222", "text": "x"},
        auth=(auth_id, secret or token),
    )


def vonage_conversion(api: Api, secret: str | None = None) -> Response:
    shown = api.shown("vonage")
    return api.client.post(
        "/conversions/sms",
        data={
            "api_key": shown["api_key"],
            "api_secret": secret or shown["api_secret"],
            "message-id": "0190c3e5-0000-7000-8000-000000000000",
            "delivered": "1",
        },
    )


def vonage_send(api: Api, secret: str | None = None) -> Response:
    shown = api.shown("vonage")
    params = {"from": "Acme", "to": "447700900001", "text": "x", "api_key": shown["api_key"]}
    params["timestamp"] = str(int(time.time()))
    params["sig"] = (
        "0" * 64
        if secret
        else sign(params, shown["signature_secret"], SignatureMethod(shown["signature_method"]))
    )
    return api.client.post("/sms/json", data=params)


Attempt = Callable[[Api, str | None], Response]
KEYED: dict[str, tuple[Attempt, int]] = {
    "plivo": (plivo, 202),
    "vonage-conversion": (vonage_conversion, 423),
    "vonage-signed-send": (vonage_send, 200),
}


@pytest.mark.parametrize("dialect", list(KEYED))
def test_a_credential_id_is_locked_after_failed_authentications(limited: Api, dialect: str) -> None:
    api = limited
    attempt, ok = KEYED[dialect]
    _set_limits(api, failures_per_key=5)
    for _ in range(5):
        r = attempt(api, "wrong-secret")
        assert r.status_code in (200, 401), r.text
        assert r.status_code == 401 or r.json()["messages"][0]["status"] == "14"
    locked = attempt(api, None)  # even the right secret: nothing is checked while locked
    assert locked.status_code == 429, locked.text
    retry = int(locked.headers["Retry-After"])
    assert 1 <= retry <= 300
    if dialect == "plivo":
        assert set(locked.json()) == {"api_id", "error"}
    elif dialect == "vonage-conversion":
        assert locked.headers["content-type"].startswith("text/plain")
    else:
        assert locked.json()["messages"][0]["status"] == "1"
    # when the window ends, the right secret works again
    api.container.limiter.clock = lambda: FROZEN + retry * 1000
    assert attempt(api, None).status_code == ok


def _native(api: Api, token: str) -> Response:
    return api.client.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"})


def _bird(api: Api, key: str) -> Response:
    ws = api.shown("bird")["workspace_id"]
    return api.client.post(
        f"/workspaces/{ws}/channels/any/messages/0190c3e5-0000-7000-8000-000000000000/conversions",
        json={"type": "otp", "status": "converted"},
        headers={"Authorization": f"AccessKey {key}"},
    )


def test_a_client_address_is_locked_after_failed_authentications(limited: Api) -> None:
    api = limited
    _set_limits(api, failures_per_address=4)
    for i in range(4):  # a different guess each time: only the address links them
        assert _native(api, f"cr_guess{i}").status_code == 401
    r = _native(api, api.shown("native")["token"])
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    assert "Retry-After" in r.headers
    bird = _bird(api, api.shown("bird")["access_key"])
    assert bird.status_code == 429
    assert bird.json()["code"] == "TooManyRequests"
    admin = api.client.get("/api/v1/routes", headers={"Authorization": f"Bearer {ADMIN}"})
    assert admin.status_code == 429
    assert api.container.limiter.refused["address"] >= 3


def test_a_replay_is_not_a_failed_authentication(limited: Api) -> None:
    api = limited
    _set_limits(api, failures_per_key=2, failures_per_address=2)
    shown = api.shown("vonage")
    params = {"from": "Acme", "to": "447700900001", "text": "x", "api_key": shown["api_key"]}
    params["timestamp"] = str(int(time.time()))
    params["sig"] = sign(params, shown["signature_secret"], SignatureMethod.SHA256)
    statuses = [
        api.client.post("/sms/json", data=params).json()["messages"][0]["status"] for _ in range(5)
    ]
    assert statuses == ["0", "14", "14", "14", "14"]  # replays, never throttled
    assert plivo(api).status_code == 202


def test_an_account_past_its_rate_gets_429_and_others_do_not(limited: Api) -> None:
    api = limited
    r = api.client.patch(
        f"/api/v1/accounts/{api.acme.account.name}",
        json={"rate_limit_per_second": 3},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["rate_limit_per_second"] == 3
    token = api.shown("native")["token"]
    answers = [_native(api, token).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    assert _native(api, api.shown("native", api.other)["token"]).status_code == 200
    # the next second, the account may again
    api.container.limiter.clock = lambda: FROZEN + 1000
    assert _native(api, token).status_code == 200
    # back to the installation's default (none)
    r = api.client.patch(
        f"/api/v1/accounts/{api.acme.account.id}",
        json={"rate_limit_per_second": None},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.json()["rate_limit_per_second"] is None
    assert [_native(api, token).status_code for _ in range(6)] == [200] * 6


@pytest.mark.parametrize("rate", [0, -1, True, "fast", 1e9])
def test_a_bad_rate_is_refused(limited: Api, rate: object) -> None:
    r = limited.client.patch(
        "/api/v1/accounts/acme",
        json={"rate_limit_per_second": rate},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 422, r.text
    assert limited.container.store.account_by_name("acme").rate_limit_per_second is None  # type: ignore[union-attr]


def test_metrics_count_what_was_refused(limited: Api) -> None:
    api = limited
    _set_limits(api, failures_per_address=1)
    assert _native(api, "cr_wrong").status_code == 401
    assert _native(api, "cr_wrong").status_code == 429
    metrics = api.client.get("/metrics").text
    assert value(metrics, "convroute_rate_limited_total", kind="address") == 1
    assert value(metrics, "convroute_rate_limited_total", kind="account") == 0
