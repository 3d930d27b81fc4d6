"""The errors every dialect documents beyond bad input: a body over the limit (413) and a
store that fails (each dialect's "unavailable", nothing acknowledged). The store failure is
real: the table the write needs is renamed away for the duration of the request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from httpx import Response
from sqlalchemy import text

from tests.api.conftest import Api


@contextmanager
def table_gone(api: Api, table: str) -> Iterator[None]:
    with api.container.store.engines.writer.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_away"))
    try:
        yield
    finally:
        with api.container.store.engines.writer.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table}_away RENAME TO {table}"))


def plivo(api: Api, mid: str, body: bytes) -> Response:
    auth_id, token = api.plivo_auth()
    return api.client.post(
        f"/v1/Account/{auth_id}/Message/{mid}/Conversion/",
        content=body,
        headers={"Content-Type": "application/json"},
        auth=(auth_id, token),
    )


def vonage(api: Api, mid: str, body: bytes) -> Response:
    shown = api.shown("vonage")
    return api.client.post(
        "/conversions/sms",
        params={"api_key": shown["api_key"], "api_secret": shown["api_secret"]},
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def bird(api: Api, mid: str, body: bytes) -> Response:
    ws = api.shown("bird")["workspace_id"]
    return api.client.post(
        f"/workspaces/{ws}/channels/any/messages/{mid}/conversions",
        content=body,
        headers={**api.bird_headers(), "Content-Type": "application/json"},
    )


Post = Callable[[Api, str, bytes], Response]
BODIES: dict[str, tuple[Post, Callable[[str], bytes]]] = {
    "plivo": (plivo, lambda mid: b'{"status": "CONVERTED", "timestamp": "2026-01-01T00:00:00Z"}'),
    "vonage": (vonage, lambda mid: f"message-id={mid}&delivered=1".encode()),
    "bird": (bird, lambda mid: b'{"type": "otp", "status": "converted"}'),
}


@pytest.mark.parametrize("dialect", list(BODIES))
def test_failing_store_is_503_and_nothing_is_acknowledged(api: Api, dialect: str) -> None:
    post, body = BODIES[dialect]
    mid = api.send()
    with table_gone(api, "conversion_events"):
        r = post(api, mid, body(mid))
    assert r.status_code == 503, r.text
    assert api.view(mid)["conversions"] == []
    r = post(api, mid, body(mid))  # once the store is back, the same report succeeds
    assert r.status_code < 300


@pytest.mark.parametrize("dialect", list(BODIES))
def test_body_over_the_limit_is_413(api: Api, dialect: str) -> None:
    post, _ = BODIES[dialect]
    mid = api.send()
    before = api.counts()
    r = post(api, mid, b"x" * (api.container.settings.max_body_bytes + 1))
    assert r.status_code == 413
    assert api.counts() == before


def test_vonage_send_with_failing_store_is_status_5(api: Api) -> None:
    shown = api.shown("vonage")
    params = {"api_key": shown["api_key"], "api_secret": shown["api_secret"]}
    with table_gone(api, "routing_decisions"):
        r = api.client.post(
            "/sms/json", data={**params, "from": "A", "to": "447700900001", "text": "x"}
        )
    assert r.status_code == 200
    assert r.json()["messages"][0]["status"] == "5"
    assert api.counts()[0] == 0  # the message was not recorded either
