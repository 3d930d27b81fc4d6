"""Vonage: the SMS API to send, its delivery receipts as signed webhooks, and the Conversion
API to forward conversions.

Send: ``POST {base_url}/sms/json`` (a form) with ``api_key``, ``api_secret``, ``from``,
``to``, ``text``, ``type`` (``unicode`` when the text is not GSM 03.38), ``client-ref`` (our
message id: Vonage echoes it in receipts), ``callback`` and ``status-report-req``; each
entry of the answer's ``messages`` is one part: ``status`` ``0`` with its ``message-id``, ``1``
throttled (back-pressure), any other a refusal with its ``error-text``. Receipt: the query,
a form or JSON, with ``messageId``, ``status`` (delivered, expired, failed, rejected,
accepted, buffered, unknown), ``err-code`` and ``client-ref``; signed webhooks add ``sig``,
``timestamp`` and ``nonce``, the signature computed as for Vonage's signed requests
(``domain/signatures.py``) with the account's signature secret and method. Forward:
``POST {conversion_url}/conversions/sms`` with ``message-id``, ``delivered`` and
``timestamp``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from convroute.connectors.base import SubmitError
from convroute.connectors.providers.base import (
    Call,
    Callback,
    StatusReport,
    forged,
    fresh,
    malformed,
    nonce_of,
    unsigned,
)
from convroute.connectors.smpp.codec import gsm_encode
from convroute.domain.commands import Nonce
from convroute.domain.models import Forward, SignatureMethod, Submission
from convroute.domain.signatures import signature_matches
from convroute.domain.statuses import ConversionStatus, DlrStatus

BASE_URL = "https://rest.nexmo.com"
CONVERSION_URL = "https://api.nexmo.com"
_STATUS = {
    "delivered": DlrStatus.DELIVERED,
    "expired": DlrStatus.EXPIRED,
    "failed": DlrStatus.FAILED,
    "rejected": DlrStatus.FAILED,
    "unknown": DlrStatus.UNKNOWN,
}
_THROTTLED = "1"


def _is_gsm(text: str) -> bool:
    try:
        gsm_encode(text)
    except UnicodeError:
        return False
    return True


def _signed_ms(value: str) -> int:
    try:
        if value.isdigit():
            return int(value) * 1000
        moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise malformed("the signed timestamp is not a Unix time or a date") from None
    return int(moment.timestamp() * 1000)


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


class Vonage:
    name = "vonage"
    reference_in_callback = False
    required: tuple[str, ...] = ("api_key", "api_secret", "signature_secret")
    optional: tuple[str, ...] = ("signature_method", "base_url", "conversion_url")

    def send(self, config: Mapping[str, Any], message: Submission, callback: str | None) -> Call:
        form = {
            "api_key": config["api_key"],
            "api_secret": config["api_secret"],
            "from": message.src.lstrip("+"),
            "to": message.dst.lstrip("+"),
            "text": message.text,
            "type": "text" if _is_gsm(message.text) else "unicode",
            "client-ref": message.message_id,
            "status-report-req": "1",
        }
        if callback:
            form["callback"] = callback
        return Call("POST", f"{config.get('base_url', BASE_URL).rstrip('/')}/sms/json", data=form)

    def sent(self, status: int, body: Any) -> list[str]:
        parts = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(parts, list) or not parts:
            raise SubmitError("bad_answer", "Vonage's answer has no messages")
        ids = []
        for part in parts:
            code = str(part.get("status", "")) if isinstance(part, dict) else ""
            if code != "0":
                text = part.get("error-text", "") if isinstance(part, dict) else ""
                raise SubmitError(
                    f"vonage_{code or 'unknown'}",
                    f"Vonage refused the message: {text or 'no reason given'}",
                    transient=code == _THROTTLED,
                )
            if isinstance(part.get("message-id"), str):
                ids.append(part["message-id"])
        return ids

    def verify(self, config: Mapping[str, Any], callback: Callback, now_ms: int) -> Nonce:
        params = self._params(callback)
        given = params.get("sig")
        if not given or "timestamp" not in params:
            raise unsigned("sig and timestamp (turn on signed webhooks)")
        fresh(_signed_ms(params["timestamp"]), now_ms)
        method = SignatureMethod(config.get("signature_method", "md5hash"))
        if not signature_matches(params, given, config["signature_secret"], method):
            raise forged()
        return nonce_of(self.name, given.lower(), now_ms)

    def _params(self, callback: Callback) -> dict[str, str]:
        if callback.body and not callback.form and callback.body.lstrip()[:1] == b"{":
            try:
                body = json.loads(callback.body)
            except ValueError:
                raise malformed("the receipt's JSON cannot be read") from None
            if not isinstance(body, dict):
                raise malformed("the receipt's JSON is not an object")
            return {**callback.query, **{k: str(v) for k, v in body.items() if v is not None}}
        return callback.params

    def report(self, callback: Callback) -> StatusReport:
        p = self._params(callback)
        upstream = p.get("messageId") or p.get("message-id")
        if not upstream or "status" not in p:
            raise malformed("a Vonage receipt carries messageId and status")
        error = p.get("err-code")
        return StatusReport(
            upstream,
            p.get("client-ref"),
            _STATUS.get(p["status"].lower()),
            None if error in (None, "", "0") else error,
        )

    def forward(self, config: Mapping[str, Any], conversion: Forward) -> Call | None:
        delivered = {
            ConversionStatus.CONVERTED: "true",
            ConversionStatus.CONVERTED_OTHER: "true",
            ConversionStatus.NOT_CONVERTED: "false",
        }.get(conversion.status)
        if delivered is None:
            return None
        query = urlencode(
            {
                "api_key": config["api_key"],
                "api_secret": config["api_secret"],
                "message-id": conversion.upstream_id,
                "delivered": delivered,
                "timestamp": _stamp(conversion.event_ms),
            }
        )
        root = config.get("conversion_url", CONVERSION_URL).rstrip("/")
        return Call("POST", f"{root}/conversions/sms?{query}")


VONAGE = Vonage()
