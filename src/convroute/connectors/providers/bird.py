"""Bird: the Channels API to send, its ``sms.outbound`` webhooks signed with
``messagebird-signature``, and Conversions Sharing to forward conversions.

Send: ``POST {base_url}/workspaces/{workspace_id}/channels/{channel_id}/messages`` (JSON,
``Authorization: AccessKey …``) with the receiver, a text body and ``reference`` (our message
id: Bird echoes it); a 202's ``id`` is Bird's. Bird's webhooks are subscribed once per
workspace (not per message): point an ``sms.outbound`` subscription at the route's callback
URL with the route's signing key. Webhook: ``{"service", "event", "payload": {"id", "status",
"reason", "reference"}}``, ``status`` one of accepted, processing, sent, sending_failed,
delivered, delivery_failed. Signature: base64 HMAC-SHA256, keyed by the signing key, of the
``messagebird-request-timestamp`` header, the URL and the body's raw SHA-256, joined by
newlines. Forward: ``POST .../messages/{id}/conversions`` with Bird's ``MessageConversion``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from convroute.connectors.base import SubmitError
from convroute.connectors.providers.base import (
    Call,
    Callback,
    StatusReport,
    any_matches,
    b64_hmac,
    forged,
    fresh,
    malformed,
    nonce_of,
    unsigned,
)
from convroute.domain.clock import format_iso
from convroute.domain.commands import Nonce
from convroute.domain.models import Forward, Submission
from convroute.domain.statuses import ConversionStatus, DlrStatus, MessageType

BASE_URL = "https://api.bird.com"
_STATUS = {
    "delivered": DlrStatus.DELIVERED,
    "delivery_failed": DlrStatus.FAILED,
    "sending_failed": DlrStatus.FAILED,
}
_CONVERSION = {
    ConversionStatus.CONVERTED: "converted",
    ConversionStatus.CONVERTED_OTHER: "converted",
    ConversionStatus.NOT_CONVERTED: "not_converted",
    ConversionStatus.CANCELED: "canceled",
    ConversionStatus.INCORRECT_CODE: "incorrect_code",
    ConversionStatus.RESENT: "resent",
    ConversionStatus.RECEIVED_AFTER_EXPIRATION: "received_after_expiration",
}


def signature(signing_key: str, timestamp: str, url: str, body: bytes) -> str:
    payload = f"{timestamp}\n{url}\n".encode() + hashlib.sha256(body).digest()
    return b64_hmac(signing_key.encode(), payload, hashlib.sha256)


class Bird:
    name = "bird"
    reference_in_callback = False
    required: tuple[str, ...] = ("access_key", "workspace_id", "channel_id", "signing_key")
    optional: tuple[str, ...] = ("base_url",)

    def _messages(self, config: Mapping[str, Any]) -> str:
        root = config.get("base_url", BASE_URL).rstrip("/")
        return (
            f"{root}/workspaces/{config['workspace_id']}/channels/{config['channel_id']}/messages"
        )

    def _headers(self, config: Mapping[str, Any]) -> dict[str, str]:
        return {"Authorization": f"AccessKey {config['access_key']}"}

    def send(self, config: Mapping[str, Any], message: Submission, callback: str | None) -> Call:
        body = {
            "receiver": {"contacts": [{"identifierValue": message.dst}]},
            "body": {"type": "text", "text": {"text": message.text}},
            "reference": message.message_id,
        }
        return Call("POST", self._messages(config), json=body, headers=self._headers(config))

    def sent(self, status: int, body: Any) -> list[str]:
        bird_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(bird_id, str) or not bird_id:
            raise SubmitError("bad_answer", "Bird's answer has no message id")
        return [bird_id]

    def verify(self, config: Mapping[str, Any], callback: Callback, now_ms: int) -> Nonce:
        given = callback.headers.get("messagebird-signature")
        stamp = callback.headers.get("messagebird-request-timestamp", "")
        if not given or not stamp:
            raise unsigned("messagebird-signature and messagebird-request-timestamp")
        if not stamp.isdigit():
            raise malformed("messagebird-request-timestamp is not a Unix time")
        seconds = int(stamp)
        fresh(seconds if seconds > 10**11 else seconds * 1000, now_ms)
        expected = signature(config["signing_key"], stamp, callback.url, callback.body)
        if not any_matches(expected, [given]):
            raise forged()
        return nonce_of(self.name, given, now_ms)

    def report(self, callback: Callback) -> StatusReport:
        try:
            event = json.loads(callback.body)
        except ValueError:
            raise malformed("the webhook's JSON cannot be read") from None
        payload = event.get("payload") if isinstance(event, dict) else None
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
            raise malformed("a Bird webhook carries a payload with the message id")
        status = payload.get("status")
        reference = payload.get("reference")
        reason = payload.get("reason")
        return StatusReport(
            payload["id"],
            reference if isinstance(reference, str) else None,
            _STATUS.get(status) if isinstance(status, str) else None,
            str(reason)[:100] if reason else None,
        )

    def forward(self, config: Mapping[str, Any], conversion: Forward) -> Call | None:
        status = _CONVERSION.get(conversion.status)
        if status is None:
            return None
        kind = conversion.type if conversion.type is not MessageType.OTHER else MessageType.OTP
        body = {
            "type": kind.value,
            "status": status,
            "method": conversion.method.value,
            "timestamp": format_iso(conversion.event_ms),
        }
        return Call(
            "POST",
            f"{self._messages(config)}/{conversion.upstream_id}/conversions",
            json=body,
            headers=self._headers(config),
        )


BIRD = Bird()
