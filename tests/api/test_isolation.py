"""One account never sees or changes another's messages, through any dialect: the matrix of
(the message's owner, the caller) by dialect, on every backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from httpx import Response

from convroute.services.accounts import NewAccount
from tests.api.conftest import Api

Report = Callable[[Api, NewAccount, str], Response]


def native(api: Api, who: NewAccount, mid: str) -> Response:
    return api.client.post(
        f"/api/v1/messages/{mid}/conversions", json={"status": "converted"}, headers=api.auth(who)
    )


def plivo(api: Api, who: NewAccount, mid: str) -> Response:
    auth_id, token = api.plivo_auth(who)
    return api.client.post(
        f"/v1/Account/{auth_id}/Message/{mid}/Conversion/",
        json={"status": "CONVERTED", "timestamp": "2026-01-01T00:00:00Z"},
        auth=(auth_id, token),
    )


def vonage(api: Api, who: NewAccount, mid: str) -> Response:
    shown = api.shown("vonage", who)
    params = {"api_key": shown["api_key"], "api_secret": shown["api_secret"]}
    return api.client.post("/conversions/sms", data={**params, "message-id": mid, "delivered": "1"})


def bird(api: Api, who: NewAccount, mid: str) -> Response:
    ws = api.shown("bird", who)["workspace_id"]
    return api.client.post(
        f"/workspaces/{ws}/channels/any/messages/{mid}/conversions",
        json={"type": "otp", "status": "converted"},
        headers=api.bird_headers(who),
    )


DIALECTS: dict[str, tuple[Report, int, int]] = {
    # name: (report, success status, "not yours" status)
    "native": (native, 201, 404),
    "plivo": (plivo, 200, 404),
    "vonage": (vonage, 200, 423),
    "bird": (bird, 204, 404),
}


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_another_account_cannot_report_on_a_message(api_any: Api, dialect: str) -> None:
    api = api_any
    report, ok, not_yours = DIALECTS[dialect]
    mine, theirs = api.send(api.acme), api.send(api.other)
    before = api.counts()
    assert report(api, api.other, mine).status_code == not_yours
    assert report(api, api.acme, theirs).status_code == not_yours
    assert api.counts() == before
    assert api.view(mine)["conversions"] == []
    assert api.view(theirs, api.other)["conversions"] == []
    # and each owner can, through the same dialect
    assert report(api, api.acme, mine).status_code == ok
    assert report(api, api.other, theirs).status_code == ok
    assert api.view(mine)["status"] == "converted"


def test_messages_cannot_be_read_across_accounts(api: Api) -> None:
    mine = api.send(api.acme)
    r = api.client.get(f"/api/v1/messages/{mine}", headers=api.auth(api.other))
    assert r.status_code == 404
    stats = api.client.get("/api/v1/stats/conversions", headers=api.auth(api.other)).json()
    assert sum(g["messages"] for g in stats["groups"]) == 0
