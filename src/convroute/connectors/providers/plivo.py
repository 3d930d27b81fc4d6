"""Plivo: the Message API to send, its status callbacks signed with ``X-Plivo-Signature-V3``,
and the Conversion Feedback API to forward conversions.

Send: ``POST {base_url}/v1/Account/{auth_id}/Message/`` (JSON, HTTP Basic ``auth_id:auth_token``)
with ``url`` (the callback, our message id in its query) and ``method=POST``; a 202's
``message_uuid`` lists Plivo's ids (one per part). Callback: a form with ``MessageUUID``,
``Status`` (queued, sent, delivered, undelivered, failed, rejected) and ``ErrorCode``.
Signature V3: base64 HMAC-SHA256, keyed by the auth token, of the URL (its query sorted),
``?``, each form field as ``namevalue`` sorted by name, then ``.`` and the
``X-Plivo-Signature-V3-Nonce`` header; the header may list several signatures (one per
active token). Forward: ``POST .../Message/{uuid}/Conversion/`` with ``status`` and
``timestamp``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from convroute.connectors.base import SubmitError
from convroute.connectors.providers.base import (
    Call,
    Callback,
    StatusReport,
    any_matches,
    b64_hmac,
    forged,
    malformed,
    nonce_of,
    unsigned,
)
from convroute.domain.commands import Nonce
from convroute.domain.models import Forward, Submission
from convroute.domain.statuses import ConversionStatus, DlrStatus

BASE_URL = "https://api.plivo.com"
_STATUS = {
    "delivered": DlrStatus.DELIVERED,
    "undelivered": DlrStatus.FAILED,
    "failed": DlrStatus.FAILED,
    "rejected": DlrStatus.FAILED,
}
_CONVERSION = {
    ConversionStatus.CONVERTED: "CONVERTED",
    ConversionStatus.CONVERTED_OTHER: "CONVERTED_WITH_OTHERS",
    ConversionStatus.NOT_CONVERTED: "NOT_CONVERTED",
}


def signed_string(method: str, url: str, params: Mapping[str, str]) -> str:
    """What Plivo signs (before ``.nonce``): for a POST, the URL with its query sorted, then
    the form's fields; for a GET, the URL with query and fields sorted together."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if method.upper() == "GET":
        query.update(params)
        params = {}
    sorted_query = "&".join(f"{k}={query[k]}" for k in sorted(query))
    out = base
    if sorted_query or params:
        out += "?" + sorted_query
    if sorted_query and params:
        out += "."
    return out + "".join(f"{k}{params[k]}" for k in sorted(params))


def signature(auth_token: str, method: str, url: str, params: Mapping[str, str], nonce: str) -> str:
    payload = f"{signed_string(method, url, params)}.{nonce}".encode()
    return b64_hmac(auth_token.encode(), payload, hashlib.sha256)


class Plivo:
    name = "plivo"
    reference_in_callback = True
    required: tuple[str, ...] = ("auth_id", "auth_token")
    optional: tuple[str, ...] = ("base_url",)

    def send(self, config: Mapping[str, Any], message: Submission, callback: str | None) -> Call:
        base = config.get("base_url", BASE_URL).rstrip("/")
        body: dict[str, Any] = {
            "src": message.src,
            "dst": message.dst.lstrip("+"),
            "text": message.text,
            "trackable": True,
        }
        if callback:
            body |= {"url": callback, "method": "POST"}
        return Call(
            "POST",
            f"{base}/v1/Account/{config['auth_id']}/Message/",
            json=body,
            auth=(config["auth_id"], config["auth_token"]),
        )

    def sent(self, status: int, body: Any) -> list[str]:
        ids = body.get("message_uuid") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise SubmitError("bad_answer", "Plivo's answer has no message_uuid list")
        return ids

    def verify(self, config: Mapping[str, Any], callback: Callback, now_ms: int) -> Nonce:
        given = callback.headers.get("x-plivo-signature-v3")
        nonce = callback.headers.get("x-plivo-signature-v3-nonce")
        if not given or not nonce:
            raise unsigned("X-Plivo-Signature-V3 and its nonce")
        expected = signature(
            config["auth_token"], callback.method, callback.url, callback.form, nonce
        )
        if not any_matches(expected, given.split(",")):
            raise forged()
        return nonce_of(self.name, nonce, now_ms)

    def report(self, callback: Callback) -> StatusReport:
        p = callback.params
        upstream = p.get("MessageUUID")
        if not upstream or "Status" not in p:
            raise malformed("a Plivo status callback carries MessageUUID and Status")
        return StatusReport(
            upstream,
            p.get("message_id"),
            _STATUS.get(p["Status"].lower()),
            p.get("ErrorCode") or None,
        )

    def forward(self, config: Mapping[str, Any], conversion: Forward) -> Call | None:
        status = _CONVERSION.get(conversion.status)
        if status is None:
            return None
        base = config.get("base_url", BASE_URL).rstrip("/")
        moment = datetime.fromtimestamp(conversion.event_ms / 1000, tz=UTC)
        return Call(
            "POST",
            f"{base}/v1/Account/{config['auth_id']}/Message/{conversion.upstream_id}/Conversion/",
            json={"status": status, "timestamp": moment.strftime("%Y-%m-%d %H:%M:%S")},
            auth=(config["auth_id"], config["auth_token"]),
        )


PLIVO = Plivo()
