"""Round trips of every dialect, as properties (Hypothesis): a report written in a dialect's
own wire form is parsed to exactly what it said (status, type, method, time to the dialect's
precision), and an error rendered in a dialect's shape reads back to the words it carried.

Over the real app: each example sends a message, reports on it in the dialect and reads it
back through the native API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.responses import Response

from convroute.api.dialects import bird, native, plivo, vonage
from convroute.domain.clock import format_iso
from convroute.domain.errors import (
    AuthenticationError,
    ConflictError,
    ConversionsDisabledError,
    ConvrouteError,
    ForbiddenError,
    NoRouteError,
    NotFoundError,
    RateLimitedError,
    ReplayError,
    ValidationError,
)
from convroute.domain.statuses import ConversionStatus, MessageType, Method
from tests.api.conftest import Api

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Report times: within the last 30 days, to the millisecond (the writer refuses the future).
NOW_MS = int(time.time() * 1000)
times = st.integers(NOW_MS - 30 * 86_400_000, NOW_MS - 60_000)
# UTC offsets a client may write a time in, from -12:00 to +14:00 in quarter hours.
offsets = st.integers(-48, 56).map(lambda q: timezone(timedelta(minutes=15 * q)))


def written(ms: int, tz: timezone, fraction: int) -> str:
    """``ms`` as an RFC 3339 date-time in ``tz`` with ``fraction`` digits (0, 3 or 6)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        base += f".{moment.microsecond:06d}"[: fraction + 1]
    offset = moment.strftime("%z")
    return base + ("Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}")


def last_conversion(api: Api, message_id: str) -> dict[str, Any]:
    event: dict[str, Any] = api.view(message_id)["conversions"][-1]
    return event


@EXAMPLES
@given(
    status=st.sampled_from(sorted(plivo.STATUSES)),
    ms=times,
    tz=offsets,
    fraction=st.sampled_from([0, 3]),
)
def test_plivo_reports_read_back_as_written(
    api: Api, status: str, ms: int, tz: timezone, fraction: int
) -> None:
    auth_id, token = api.plivo_auth()
    r = api.client.post(
        f"/v1/Account/{auth_id}/Message/", json={"src": "Acme", "dst": "14155552671",
        "text": "code 1", "trackable": True}, auth=(auth_id, token),
    )  # fmt: skip
    (mid,) = r.json()["message_uuid"]
    stamp = written(ms, tz, fraction)
    r = api.client.post(
        f"/v1/Account/{auth_id}/Message/{mid}/Conversion/",
        json={"status": status, "timestamp": stamp},
        auth=(auth_id, token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["message_uuid"] == mid  # what Plivo answers names the message reported
    event = last_conversion(api, mid)
    expected = ms - ms % 1000 if fraction == 0 else ms
    assert (event["status"], event["dialect"]) == (plivo.STATUSES[status].value, "plivo")
    assert event["timestamp"] == format_iso(expected)


@EXAMPLES
@given(
    status=st.sampled_from(
        ["converted", "canceled", "not_converted", "incorrect_code", "resent",
         "received_after_expiration"]
    ),
    kind=st.sampled_from(["otp", "url", "promo_code"]),
    method=st.sampled_from(["unknown", "manual", "auto"]),
    ms=times,
    tz=offsets,
    fraction=st.sampled_from([0, 3, 6]),
    navigator=st.booleans(),
)  # fmt: skip
def test_bird_reports_read_back_as_written(
    api: Api,
    status: str,
    kind: str,
    method: str,
    ms: int,
    tz: timezone,
    fraction: int,
    navigator: bool,
) -> None:
    mid = api.send(type=kind)
    ws = api.shown("bird")["workspace_id"]
    channel = "navigators" if navigator else "channels"
    r = api.client.post(
        f"/workspaces/{ws}/{channel}/c0ffee00-0000-4000-8000-000000000000/messages/{mid}"
        "/conversions",
        json={"type": kind, "status": status, "method": method,
              "timestamp": written(ms, tz, fraction)},
        headers=api.bird_headers(),
    )  # fmt: skip
    assert (r.status_code, r.content) == (204, b""), r.text
    event = last_conversion(api, mid)
    expected = ms - ms % 1000 if fraction == 0 else ms
    assert (event["status"], event["type"], event["method"], event["dialect"]) == (
        ConversionStatus(status).value,
        MessageType(kind).value,
        Method(method).value,
        "bird",
    )
    assert event["timestamp"] == format_iso(expected)


@EXAMPLES
@given(delivered=st.sampled_from(["true", "false", "1", "0", "TRUE", " False "]), ms=times,
       unix=st.booleans(), voice=st.booleans())  # fmt: skip
def test_vonage_reports_read_back_as_written(
    api: Api, delivered: str, ms: int, unix: bool, voice: bool
) -> None:
    shown = api.shown("vonage")
    keys = {"api_key": shown["api_key"], "api_secret": shown["api_secret"]}
    r = api.client.post(
        "/sms/json", data={**keys, "from": "Acme", "to": "447700900001", "text": "code 1"}
    )
    mid = r.json()["messages"][0]["message-id"]
    seconds = ms // 1000
    stamp = (
        str(seconds) if unix else datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
    )
    r = api.client.post(
        f"/conversions/{'voice' if voice else 'sms'}",
        params={**keys, "message-id": mid.upper(), "delivered": delivered, "timestamp": stamp},
    )
    assert (r.status_code, r.text) == (200, "OK")
    event = last_conversion(api, mid)
    converted = vonage.DELIVERED[delivered.strip().lower()]
    assert event["status"] == ("converted" if converted else "not_converted")
    assert (event["dialect"], event["timestamp"]) == ("vonage", format_iso(seconds * 1000))


@EXAMPLES
@given(
    status=st.sampled_from(list(ConversionStatus)),
    kind=st.none() | st.sampled_from(list(MessageType)),
    method=st.sampled_from(list(Method)),
    ms=st.none() | times,
    tz=offsets,
)
def test_native_reports_read_back_as_written(
    api: Api,
    status: ConversionStatus,
    kind: MessageType | None,
    method: Method,
    ms: int | None,
    tz: timezone,
) -> None:
    mid = api.send(type="url")
    body: dict[str, Any] = {"status": status.value, "method": method.value}
    if kind is not None:
        body["type"] = kind.value
    if ms is not None:
        body["timestamp"] = written(ms, tz, 3)
    before = int(time.time() * 1000)
    r = api.client.post(f"/api/v1/messages/{mid}/conversions", json=body, headers=api.auth())
    assert r.status_code == 201, r.text
    answer = r.json()
    assert (answer["message_id"], answer["status"], answer["duplicate"]) == (
        mid,
        status.value,
        False,
    )
    event = last_conversion(api, mid)
    assert event["id"] == answer["id"]
    assert (event["status"], event["method"]) == (status.value, method.value)
    assert event["type"] == (kind.value if kind is not None else "url")  # the message's
    if ms is not None:
        assert event["timestamp"] == format_iso(ms)
    else:  # now, as the server received it
        stamp = datetime.fromisoformat(event["timestamp"]).timestamp() * 1000
        assert before - 1000 <= stamp <= time.time() * 1000 + 1000


# -- errors: every dialect's shape carries the words ------------------------------------------

words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=80)
CLIENT_ERRORS: list[Callable[[str], ConvrouteError]] = [
    ValidationError,
    NoRouteError,
    NotFoundError,
    AuthenticationError,
    ReplayError,
    ForbiddenError,
    ConversionsDisabledError,
    ConflictError,
    lambda text: RateLimitedError(text, 5),
]
"""Every error a client causes: each dialect answers it with a 4xx, never a 500."""
errors = st.builds(lambda make, text: make(text), st.sampled_from(CLIENT_ERRORS), words)


def _plivo(r: Response) -> str:
    doc = json.loads(bytes(r.body))
    assert set(doc) == {"api_id", "error"}
    return str(doc["error"])


def _bird(r: Response) -> str:
    doc = json.loads(bytes(r.body))
    assert {"code", "message"} <= set(doc)
    return str(doc["message"])


def _native(r: Response) -> str:
    doc = json.loads(bytes(r.body))
    assert set(doc) == {"error"}
    return str(doc["error"]["message"])


def _vonage_send(r: Response) -> str:
    doc = json.loads(bytes(r.body))
    (message,) = doc["messages"]
    assert message["status"] != "0"
    return str(message["error-text"])


def _vonage_conversion(r: Response) -> str:
    title, _, text = bytes(r.body).decode().partition(": ")
    assert title  # e.g. "Invalid parameters", "Wrong credentials"
    return text


RENDERERS: list[tuple[Callable[[ConvrouteError], Response], Callable[[Response], str]]] = [
    (plivo.render_error, _plivo),
    (bird.render_error, _bird),
    (native.render_error, _native),
    (vonage.render_send_error, _vonage_send),
    (vonage.render_conversion_error, _vonage_conversion),
]


@settings(max_examples=200, deadline=None)
@given(exc=errors, which=st.integers(0, len(RENDERERS) - 1))
def test_an_error_rendered_in_a_dialect_reads_back_to_its_words(
    exc: ConvrouteError, which: int
) -> None:
    render, read = RENDERERS[which]
    response = render(exc)
    assert 400 <= response.status_code < 500 or (
        render is vonage.render_send_error and response.status_code == 200
    )
    said = read(response)
    if render is vonage.render_send_error:  # Vonage's own field names replace ours
        assert said.endswith(exc.message.split(":", 1)[-1])
    else:
        assert said == exc.message
