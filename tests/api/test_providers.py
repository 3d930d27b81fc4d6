"""Provider routes end to end, over real HTTP against stub providers on loopback
(``tests/providers.py``): the send request in each provider's format and auth, its signed
status callback recorded as a DLR, forged, unsigned and replayed callbacks refused without a
change, and conversions forwarded to the provider's conversion API exactly once, also across
a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from starlette.testclient import TestClient

from convroute.api.app import create_app
from convroute.bootstrap import bootstrap
from convroute.config import Settings
from convroute.domain.models import RouteDestination
from convroute.services.routes import new_route
from tests import providers as sign
from tests.api.conftest import Api
from tests.api.test_connectors import only_route, wait_for
from tests.conftest import SECRET_KEY, add_account
from tests.providers import CONFIGS, Received, StubProviders, serve
from tests.scrape import value

PROVIDERS = ("plivo", "vonage", "twilio", "bird")


@pytest.fixture
def stubs() -> Iterator[tuple[StubProviders, str]]:
    stub = StubProviders()
    server, url = serve(stub)
    yield stub, url
    server.shutdown()
    server.server_close()


def config(provider: str, url: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {**CONFIGS[provider], "base_url": url, **extra}
    if provider == "vonage":
        out["conversion_url"] = url
    return out


def route_id(api: Api, name: str = "up") -> str:
    return api.container.store.route(name).id


def callback_url(api: Api, provider: str, sent: Received, rid: str) -> str:
    """The URL the provider was told to call back (Bird: the route's, subscribed once)."""
    given = {
        "plivo": lambda b: b.get("url"),
        "vonage": lambda b: b.get("callback"),
        "twilio": lambda b: b.get("StatusCallback"),
        "bird": lambda b: None,
    }[provider](sent.body)
    return given or f"{api.container.dispatcher.public_url}/callbacks/{rid}"


def upstream_of(api: Api, message_id: str) -> str:
    from sqlalchemy import select

    from convroute.storage import schema as t

    u = t.upstream_ids.c
    query = select(u.upstream_id).where(u.message_id == message_id)
    return str(api.container.store.read(lambda conn: conn.execute(query).scalar_one()))


def signed_callback(
    provider: str,
    url: str,
    upstream: str,
    status: str,
    secret: str | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """A status callback as the provider sends it: TestClient request kwargs (method, url,
    headers, content)."""
    c = CONFIGS[provider]
    split = urlsplit(url)
    path = split.path + (f"?{split.query}" if split.query else "")
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    if provider == "plivo":
        form = {"MessageUUID": upstream, "Status": status, "ErrorCode": "000", "To": "447700900123"}
        nonce = f"n{time.monotonic_ns()}"
        signature = sign.plivo_v3(secret or c["auth_token"], url, form, nonce)
        headers = {**form_type, "X-Plivo-Signature-V3": signature,
                   "X-Plivo-Signature-V3-Nonce": nonce}  # fmt: skip
        return {"method": "POST", "url": path, "headers": headers, "content": urlencode(form)}
    if provider == "twilio":
        form = {"MessageSid": upstream, "MessageStatus": status, "AccountSid": c["account_sid"],
                "ApiVersion": "2010-04-01", "To": "+447700900123"}  # fmt: skip
        signature = sign.twilio(secret or c["auth_token"], url, form)
        headers = {**form_type, "X-Twilio-Signature": signature}
        return {"method": "POST", "url": path, "headers": headers, "content": urlencode(form)}
    if provider == "vonage":
        params = {
            "messageId": upstream,
            "status": status,
            "msisdn": "447700900123",
            "err-code": "0",
            "client-ref": reference or "",
            "timestamp": str(int(time.time())),
            "nonce": f"n{time.monotonic_ns()}",
        }
        params["sig"] = sign.vonage(secret or c["signature_secret"], params)
        return {"method": "GET", "url": f"{split.path}?{urlencode(params)}", "headers": {}}
    body = json.dumps(
        {
            "service": "channels",
            "event": "sms.outbound",
            "payload": {"id": upstream, "status": status, "channelId": c["channel_id"]},
        }
    ).encode()
    stamp = str(int(time.time()))
    signature = sign.bird(secret or c["signing_key"], stamp, url, body)
    headers = {"content-type": "application/json", "messagebird-signature": signature,
               "messagebird-request-timestamp": stamp}  # fmt: skip
    return {"method": "POST", "url": path, "headers": headers, "content": body}


DELIVERED = {"plivo": "delivered", "vonage": "delivered", "twilio": "delivered",
             "bird": "delivered"}  # fmt: skip
FAILED = {"plivo": "undelivered", "vonage": "rejected", "twilio": "failed",
          "bird": "delivery_failed"}  # fmt: skip
ON_ITS_WAY = {"plivo": "sent", "vonage": "accepted", "twilio": "sent", "bird": "sent"}


def sent_one(api: Api, stub: StubProviders, provider: str) -> tuple[str, Received]:
    message_id = api.send(dst="+447700900123", text="Your code: 424242")
    (request,) = wait_for(lambda: stub.of(provider, "send"))
    wait_for(lambda: api.container.dispatcher.submitted == 1)
    return message_id, request


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_route_sends_in_the_providers_format(
    api: Api, stubs: tuple[StubProviders, str], provider: str
) -> None:
    stub, url = stubs
    only_route(api, provider, config(provider, url))
    message_id, request = sent_one(api, stub, provider)
    body = request.body
    if provider == "plivo":
        assert (body["dst"], body["text"], body["method"]) == (
            "447700900123",
            "Your code: 424242",
            "POST",
        )
        assert f"message_id={message_id}" in body["url"]
    elif provider == "vonage":
        assert (body["to"], body["text"], body["type"]) == (
            "447700900123",
            "Your code: 424242",
            "text",
        )
        assert body["client-ref"] == message_id
        assert body["status-report-req"] == "1"
    elif provider == "twilio":
        assert (body["To"], body["Body"]) == ("+447700900123", "Your code: 424242")
        assert f"message_id={message_id}" in body["StatusCallback"]
    else:
        assert body["receiver"] == {"contacts": [{"identifierValue": "+447700900123"}]}
        assert body["body"] == {"type": "text", "text": {"text": "Your code: 424242"}}
        assert body["reference"] == message_id
    assert upstream_of(api, message_id).startswith(("plivo-", "vonage-", "SM", "bird-"))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_signed_status_callback_becomes_a_dlr_and_a_forged_one_changes_nothing(
    api: Api, stubs: tuple[StubProviders, str], provider: str
) -> None:
    stub, url = stubs
    only_route(api, provider, config(provider, url))
    message_id, request = sent_one(api, stub, provider)
    rid = route_id(api)
    where = callback_url(api, provider, request, rid)
    upstream = upstream_of(api, message_id)
    before = api.counts()
    for bad in (
        signed_callback(provider, where, upstream, DELIVERED[provider], secret="not-the-secret"),
        {**signed_callback(provider, where, upstream, DELIVERED[provider]), "headers": {}},
    ):
        if provider == "vonage" and not bad["headers"] and "sig=" in bad["url"]:
            bad["url"] = bad["url"].split("&sig=")[0]  # unsigned: no sig at all
        r = api.client.request(**bad)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] in ("bad_signature", "unsigned")
    assert api.counts() == before
    r = api.client.request(**signed_callback(provider, where, upstream, ON_ITS_WAY[provider]))
    assert r.status_code == 200, r.text
    assert api.view(message_id)["dlrs"] == []  # not final: nothing kept
    genuine = signed_callback(provider, where, upstream, FAILED[provider], reference=message_id)
    r = api.client.request(**genuine)
    assert r.status_code == 200, r.text
    (dlr,) = api.view(message_id)["dlrs"]
    assert dlr["status"] == "failed"
    after = api.counts()
    replay = api.client.request(**genuine)
    assert replay.status_code == 401
    assert api.counts() == after
    r = api.client.request(**signed_callback(provider, where, upstream, DELIVERED[provider]))
    assert r.status_code == 200, r.text
    assert [d["status"] for d in api.view(message_id)["dlrs"]] == ["failed", "delivered"]


@pytest.mark.parametrize("provider", ["plivo", "bird"])
def test_a_callback_about_a_message_of_another_route_is_not_found(
    api: Api, stubs: tuple[StubProviders, str], provider: str
) -> None:
    """A route's secret authenticates callbacks about what went out over that route only."""
    stub, url = stubs
    only_route(api, provider, config(provider, url))
    message_id, request = sent_one(api, stub, provider)
    dests = [RouteDestination("JP", 0.01)]
    other = new_route("other", dests, api.container.clock(), provider, config(provider, url))
    api.container.store.add_route(other)
    where = callback_url(api, provider, request, route_id(api)).replace(route_id(api), other.id)
    before = api.counts()
    r = api.client.request(
        **signed_callback(provider, where, upstream_of(api, message_id), DELIVERED[provider])
    )
    assert r.status_code == 404, r.text
    assert api.counts() == before


def convert(api: Api, message_id: str, status: str = "converted") -> None:
    r = api.client.post(
        f"/api/v1/messages/{message_id}/conversions", json={"status": status}, headers=api.auth()
    )
    assert r.status_code == 201, r.text


def check_forward(provider: str, forward: Received, upstream: str) -> None:
    body = forward.body
    if provider == "plivo":
        assert forward.path.endswith(f"/Message/{upstream}/Conversion/")
        assert body["status"] == "CONVERTED"
    elif provider == "vonage":
        assert (forward.query["message-id"], forward.query["delivered"]) == (upstream, "true")
    elif provider == "twilio":
        assert forward.path.endswith(f"/Messages/{upstream}/Feedback.json")
        assert body == {"Outcome": "confirmed"}
    else:
        assert forward.path.endswith(f"/messages/{upstream}/conversions")
        assert (body["status"], body["type"]) == ("converted", "otp")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_conversion_is_forwarded_to_the_provider_once(
    api: Api, stubs: tuple[StubProviders, str], provider: str
) -> None:
    stub, url = stubs
    only_route(api, provider, config(provider, url))
    message_id, _ = sent_one(api, stub, provider)
    convert(api, message_id)
    (forward,) = wait_for(lambda: stub.of(provider, "conversion"))
    check_forward(provider, forward, upstream_of(api, message_id))
    time.sleep(1.5)  # polled again meanwhile: nothing more
    assert len(stub.of(provider, "conversion")) == 1
    metrics = api.client.get("/metrics").text
    assert value(metrics, "convroute_forwards_pending") == 0
    assert value(metrics, "convroute_forwards_sent_total", route="up") == 1


def test_a_route_that_does_not_forward_keeps_conversions_to_itself(
    api: Api, stubs: tuple[StubProviders, str]
) -> None:
    stub, url = stubs
    only_route(api, "plivo", config("plivo", url, forward_conversions=False))
    message_id, _ = sent_one(api, stub, "plivo")
    convert(api, message_id)
    time.sleep(1.5)
    assert stub.of("plivo", "conversion") == []
    assert value(api.client.get("/metrics").text, "convroute_forwards_pending") == 0


def test_a_refused_forward_is_kept_as_failed(api: Api, stubs: tuple[StubProviders, str]) -> None:
    stub, url = stubs
    only_route(api, "twilio", config("twilio", url))
    stub.answer[("twilio", "conversion")] = 404
    message_id, _ = sent_one(api, stub, "twilio")
    convert(api, message_id)
    wait_for(lambda: value(api.client.get("/metrics").text, "convroute_forwards_failed") == 1)
    time.sleep(1.5)
    assert len(stub.of("twilio", "conversion")) == 1  # a refusal is not tried again


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_forward_survives_a_restart_and_goes_once(
    tmp_path: Path, sqlite_template: Path, stubs: tuple[StubProviders, str], provider: str
) -> None:
    """The provider's conversion API is down; the server stops with the forward pending; a
    new server on the same database forwards it once the provider is back."""
    import shutil

    stub, url = stubs
    path = tmp_path / "convroute.db"
    shutil.copy(sqlite_template, path)
    settings = Settings(database_url=f"sqlite:///{path}", secret_key=SECRET_KEY)
    first = bootstrap(settings, migrate=False)
    acme = add_account(first, "acme")
    dests = [RouteDestination("*", 0.01)]
    route = new_route("up", dests, first.clock(), provider, config(provider, url))
    first.store.add_route(route)
    token = {"Authorization": f"Bearer {acme.issued_shown('native')['token']}"}
    stub.answer[(provider, "conversion")] = 503
    with TestClient(create_app(first)) as client:
        r = client.post("/api/v1/messages", headers=token,
                        json={"src": "Acme", "dst": "+447700900123", "text": "code 7"})  # fmt: skip
        message_id = r.json()["id"]
        wait_for(lambda: first.dispatcher.submitted == 1)
        r = client.post(f"/api/v1/messages/{message_id}/conversions", headers=token,
                        json={"status": "converted"})  # fmt: skip
        assert r.status_code == 201
        wait_for(lambda: first.dispatcher.forwarder.failures >= 1)
        assert value(client.get("/metrics").text, "convroute_forwards_pending") == 1
    first.close()
    tried = len(stub.of(provider, "conversion"))
    del stub.answer[(provider, "conversion")]
    second = bootstrap(settings, migrate=False)
    try:
        with TestClient(create_app(second)):
            wait_for(lambda: second.dispatcher.forwarder.forwarded == 1, seconds=8)
            time.sleep(1.5)
            assert len(stub.of(provider, "conversion")) == tried + 1  # once after the restart
            assert second.store.forward_counts() == (0, 0)
    finally:
        second.close()


def test_a_provider_refusal_fails_the_message_and_a_throttle_is_retried(
    api: Api, stubs: tuple[StubProviders, str]
) -> None:
    stub, url = stubs
    only_route(api, "vonage", config("vonage", url))
    stub.vonage_status = "1"  # Throttled
    message_id = api.send(dst="+447700900123")
    wait_for(lambda: stub.of("vonage", "send"))
    time.sleep(0.3)
    assert api.view(message_id)["dlrs"] == []  # back-pressure, not a failure
    stub.vonage_status = "0"
    wait_for(lambda: api.container.dispatcher.submitted == 1, seconds=8)
    stub.vonage_status = "29"  # non-whitelisted destination: a refusal
    refused = api.send(dst="+447700900124")
    (dlr,) = wait_for(lambda: api.view(refused)["dlrs"])
    assert (dlr["status"], dlr["error_code"]) == ("failed", "vonage_29")


@pytest.mark.parametrize(
    ("provider", "bad", "problem"),
    [
        ("plivo", {"auth_token": ""}, "config.auth_token"),
        ("twilio", {"base_url": "ftp://x"}, "config.base_url"),
        ("vonage", {"signature_method": "crc32"}, "config.signature_method"),
        ("bird", {"surprise": 1}, "config.surprise"),
        ("bird", {"mps": 0}, "config.mps"),
    ],
)
def test_a_provider_route_config_is_validated_and_its_secrets_masked(
    admin: Api, provider: str, bad: dict[str, Any], problem: str
) -> None:
    from tests.api.conftest import ADMIN

    headers = {"Authorization": f"Bearer {ADMIN}"}
    good = {**CONFIGS[provider], "mps": 50}
    r = admin.client.post("/api/v1/routes", headers=headers, json={
        "name": f"{provider}-bad", "connector": provider, "config": {**good, **bad},
        "destinations": [{"country": "*", "price": 0.01}]})  # fmt: skip
    assert r.status_code == 422, r.text
    assert problem in r.text
    r = admin.client.post("/api/v1/routes", headers=headers, json={
        "name": provider, "connector": provider, "config": good,
        "destinations": [{"country": "*", "price": 0.01}]})  # fmt: skip
    assert r.status_code == 201, r.text
    shown = r.json()["config"]
    secrets = {"plivo": "auth_token", "twilio": "auth_token", "vonage": "api_secret",
               "bird": "signing_key"}  # fmt: skip
    assert shown[secrets[provider]] == "***"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_callbacks_of_any_shape_get_a_4xx_and_change_nothing(
    api: Api, stubs: tuple[StubProviders, str], provider: str
) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    _, url = stubs
    only_route(api, provider, config(provider, url))
    path = f"/callbacks/{route_id(api)}"
    before = api.counts()
    names = st.sampled_from(
        ["x-plivo-signature-v3", "x-plivo-signature-v3-nonce", "x-twilio-signature",
         "messagebird-signature", "messagebird-request-timestamp", "content-type"]
    )  # fmt: skip
    values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        method=st.sampled_from(["GET", "POST"]),
        query=st.dictionaries(values, values, max_size=4),
        headers=st.dictionaries(names, values, max_size=5),
        body=st.one_of(st.binary(max_size=300), st.just(b'{"payload": {"id": 1}}')),
    )
    def hostile(method: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> None:
        r = api.client.request(method, path, params=query, headers=headers, content=body)
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
        assert "error" in r.json()

    hostile()
    assert api.counts() == before
    r = api.client.post("/callbacks/no-such-route", content=b"")
    assert r.status_code == 404
