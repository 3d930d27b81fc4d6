"""Conversion reports in each dialect's wire format, for the ingest benchmark: request ``n``
reports on message ``ids[n % len(ids)]`` with a client time unique to ``(n, phase)``, so every
report is a new event (none is answered as a duplicate)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

from benchmarks.loadgen import http_request
from convroute.domain.clock import format_iso
from convroute.domain.models import SignatureMethod
from convroute.domain.signatures import sign

# dialect -> the status its success answers with
SUCCESS = {"native": 201, "plivo": 200, "vonage": 200, "vonage-signed": 200, "bird": 204}
DIALECTS = tuple(SUCCESS)

Make = Callable[[int], bytes]

_NEXT_SECOND: dict[str, int] = {}
"""The next second a Vonage report on a message may carry (every phase of the run shares it)."""


def conversion_requests(
    dialect: str, credentials: dict[str, dict[str, str]], ids: list[str], phase: int
) -> Make:
    """``make(n)``: the raw HTTP request of the n-th report in ``dialect``."""
    base_ms = 1_700_000_000_000 + phase * 1_000_000_000

    def iso(n: int) -> str:
        return format_iso(base_ms + n)

    if dialect == "native":
        token = credentials["native"]["token"]
        return lambda n: http_request(
            "POST",
            f"/api/v1/messages/{ids[n % len(ids)]}/conversions",
            token,
            b'{"status":"converted","timestamp":"%s"}' % iso(n).encode(),
        )
    if dialect == "plivo":
        auth_id, auth_token = credentials["plivo"]["auth_id"], credentials["plivo"]["auth_token"]
        basic = "Basic " + base64.b64encode(f"{auth_id}:{auth_token}".encode()).decode()
        return lambda n: http_request(
            "POST",
            f"/v1/Account/{auth_id}/Message/{ids[n % len(ids)]}/Conversion/",
            body=b'{"status":"CONVERTED","timestamp":"%s"}' % iso(n).encode(),
            authorization=basic,
        )
    if dialect == "bird":
        bird = credentials["bird"]
        return lambda n: http_request(
            "POST",
            f"/workspaces/{bird['workspace_id']}/channels/bench/messages/"
            f"{ids[n % len(ids)]}/conversions",
            body=b'{"type":"otp","status":"converted","timestamp":"%s"}' % iso(n).encode(),
            authorization=f"AccessKey {bird['access_key']}",
        )
    vonage = credentials["vonage"]
    signed = dialect == "vonage-signed"

    def make_vonage(n: int) -> bytes:
        # Vonage times have whole seconds, and a signed one must be within 5 minutes of now:
        # each message's reports take its next second from 290 s ago onwards (one report a
        # second of a message at most, across every phase), so no two reports are the same
        # event and no two signed requests the same signature (a replay)
        message_id = ids[n % len(ids)]
        moment = max(_NEXT_SECOND.get(message_id, 0), int(time.time()) - 290)
        _NEXT_SECOND[message_id] = moment + 1
        params = {
            "api_key": vonage["api_key"],
            "message-id": message_id,
            "delivered": ("1", "0", "true", "false")[phase % 4],
            "timestamp": datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        }
        if signed:
            method = SignatureMethod(vonage["signature_method"])
            params["sig"] = sign(params, vonage["signature_secret"], method)
        else:
            params["api_secret"] = vonage["api_secret"]
        return http_request(
            "POST",
            "/conversions/sms",
            body=urlencode(params).encode(),
            content_type="application/x-www-form-urlencoded",
        )

    return make_vonage
