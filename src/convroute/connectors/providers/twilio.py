"""Twilio: the Messages API to send, its status callbacks signed with ``X-Twilio-Signature``,
and Message Feedback to forward conversions.

Send: ``POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`` (a form, HTTP Basic
``account_sid:auth_token``) with ``To``, ``From`` (or ``MessagingServiceSid``), ``Body`` and
``StatusCallback`` (our message id in its query); a 201's ``sid`` is Twilio's id. Callback: a
form with ``MessageSid``, ``MessageStatus`` (queued, sending, sent, delivered, undelivered,
failed, canceled, read) and ``ErrorCode``. Signature: base64 HMAC-SHA1, keyed by the auth
token, of the full URL followed by each POST field as ``namevalue`` sorted by name. Forward:
``POST .../Messages/{sid}/Feedback.json`` with ``Outcome=confirmed`` (Twilio's word for a
conversion; it has none for a failed one)."""

from __future__ import annotations

import hashlib
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
    malformed,
    nonce_of,
    unsigned,
)
from convroute.domain.commands import Nonce
from convroute.domain.models import Forward, Submission
from convroute.domain.statuses import ConversionStatus, DlrStatus

BASE_URL = "https://api.twilio.com"
_STATUS = {
    "delivered": DlrStatus.DELIVERED,
    "read": DlrStatus.DELIVERED,
    "undelivered": DlrStatus.FAILED,
    "failed": DlrStatus.FAILED,
    "canceled": DlrStatus.FAILED,
}


def signature(auth_token: str, url: str, form: Mapping[str, str]) -> str:
    payload = url + "".join(f"{k}{form[k]}" for k in sorted(form))
    return b64_hmac(auth_token.encode(), payload.encode(), hashlib.sha1)


class Twilio:
    name = "twilio"
    reference_in_callback = True
    required: tuple[str, ...] = ("account_sid", "auth_token")
    optional: tuple[str, ...] = ("base_url", "messaging_service_sid")

    def _base(self, config: Mapping[str, Any]) -> str:
        root = config.get("base_url", BASE_URL).rstrip("/")
        return f"{root}/2010-04-01/Accounts/{config['account_sid']}"

    def send(self, config: Mapping[str, Any], message: Submission, callback: str | None) -> Call:
        form = {"To": message.dst, "Body": message.text}
        if config.get("messaging_service_sid"):
            form["MessagingServiceSid"] = config["messaging_service_sid"]
        else:
            form["From"] = message.src
        if callback:
            form["StatusCallback"] = callback
        return Call(
            "POST",
            f"{self._base(config)}/Messages.json",
            data=form,
            auth=(config["account_sid"], config["auth_token"]),
        )

    def sent(self, status: int, body: Any) -> list[str]:
        sid = body.get("sid") if isinstance(body, dict) else None
        if not isinstance(sid, str) or not sid:
            raise SubmitError("bad_answer", "Twilio's answer has no message sid")
        return [sid]

    def verify(self, config: Mapping[str, Any], callback: Callback, now_ms: int) -> Nonce:
        given = callback.headers.get("x-twilio-signature")
        if not given:
            raise unsigned("X-Twilio-Signature")
        expected = signature(config["auth_token"], callback.url, callback.form)
        if not any_matches(expected, [given]):
            raise forged()
        if callback.params.get("AccountSid", config["account_sid"]) != config["account_sid"]:
            raise forged()
        # Twilio names each webhook it sends; a replay carries the same token (or signature)
        token = callback.headers.get("i-twilio-idempotency-token") or given
        return nonce_of(self.name, token, now_ms)

    def report(self, callback: Callback) -> StatusReport:
        p = callback.params
        upstream = p.get("MessageSid") or p.get("SmsSid")
        status = p.get("MessageStatus") or p.get("SmsStatus")
        if not upstream or not status:
            raise malformed("a Twilio status callback carries MessageSid and MessageStatus")
        return StatusReport(
            upstream, p.get("message_id"), _STATUS.get(status.lower()), p.get("ErrorCode") or None
        )

    def forward(self, config: Mapping[str, Any], conversion: Forward) -> Call | None:
        if conversion.status not in (ConversionStatus.CONVERTED, ConversionStatus.CONVERTED_OTHER):
            return None
        return Call(
            "POST",
            f"{self._base(config)}/Messages/{conversion.upstream_id}/Feedback.json",
            data={"Outcome": "confirmed"},
            auth=(config["account_sid"], config["auth_token"]),
        )


TWILIO = Twilio()
