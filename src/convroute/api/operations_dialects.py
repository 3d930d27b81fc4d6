"""The provider dialects' operations in the OpenAPI document: Plivo's (send, the Message
resource read back, Conversion Feedback), Vonage's (SMS API, Conversion API) and Bird's
(conversions). ``operations.py`` places them among the rest; Verify's dialects are in
``operations_verify.py``."""

from __future__ import annotations

from convroute.api.dialects import bird, plivo, plivo_messages
from convroute.api.operation import Operation

_PLIVO_ERRORS = (400, 401, 403, 404, 413, 415, 503)
_VONAGE_CONVERSION_QUERY = (
    ("api_key", "Your API key (with api_secret, or with sig)"),
    ("api_secret", "Your API secret"),
    ("sig", "Signature of the parameters (see docs/api.md)"),
    ("message-id", "Required: the message-id returned when the message was sent"),
    ("delivered", "Required: true, false, 1 or 0"),
    ("timestamp", "yyyy-MM-dd HH:mm:ss UTC, or Unix seconds (default: now)"),
)
_VONAGE_SEND_QUERY = (
    ("api_key", "Your API key (with api_secret, or with sig)"),
    ("api_secret", "Your API secret"),
    ("sig", "Signature of the parameters (see docs/api.md)"),
    ("from", "Required: sender id"),
    ("to", "Required: E.164 destination"),
    ("text", "Required: message text"),
    ("type", "text (default) or unicode"),
    ("client-ref", "Your reference, echoed back (at most 100 characters)"),
    ("timestamp", "Unix seconds; required when signing"),
)


DIALECT_OPERATIONS = (
    Operation(
        "post",
        plivo.SEND_PATH,
        "Plivo: send a message (trackable) to one or more destinations (dst joined by <)",
        "plivo",
        "PlivoMessageIn",
        202,
        _PLIVO_ERRORS,
        "basic",
        aliases=plivo.SEND_ALIASES,
        error="PlivoError",
        ok_schema="PlivoMessageQueued",
    ),
    Operation(
        "get",
        plivo.SEND_PATH,
        "Plivo: list the account's messages, newest first (the SDK's messages.list)",
        "plivo",
        None,
        200,
        (400, 401, 404, 503),
        "basic",
        query=(
            ("limit", "1 to 20 (20)"),
            ("offset", "messages to skip (0)"),
            ("message_time__gt", "sent after (YYYY-MM-DD HH:MM:SS, UTC)"),
            ("message_time__gte", "sent at or after"),
            ("message_time__lt", "sent before"),
            ("message_time__lte", "sent at or before"),
            ("message_time", "sent within that second"),
            (
                "message_state",
                "delivered, failed, undelivered, sent (queued, rejected, read: none)",
            ),
            ("message_direction", "outbound (inbound: none)"),
        ),
        aliases=plivo.SEND_ALIASES,
        error="PlivoError",
        ok_schema="PlivoMessageList",
    ),
    Operation(
        "get",
        plivo_messages.MESSAGE_PATH,
        "Plivo: one message (the SDK's messages.get)",
        "plivo",
        None,
        200,
        (401, 404, 503),
        "basic",
        aliases=plivo_messages.MESSAGE_ALIASES,
        error="PlivoError",
        ok_schema="PlivoMessage",
    ),
    Operation(
        "post",
        plivo.CONVERSION_PATH,
        "Plivo: report a conversion (Conversion Feedback API)",
        "plivo",
        "PlivoConversionIn",
        200,
        _PLIVO_ERRORS,
        "basic",
        aliases=plivo.CONVERSION_ALIASES,
        error="PlivoError",
        ok_schema="PlivoConversionRecorded",
    ),
    Operation(
        "post",
        "/sms/json",
        "Vonage: send an SMS (HTTP 200; a non-zero status in the body is an error; 429 with "
        "status 1 when throttled)",
        "vonage",
        ok=200,
        errors=(),
        ok_schema="VonageSmsResponse",
        security="vonage",
        query=_VONAGE_SEND_QUERY,
        body_media="application/x-www-form-urlencoded",
    ),
    *(
        Operation(
            "post",
            f"/conversions/{channel}",
            f"Vonage: report a conversion of an {channel.upper()} message (Conversion API)",
            "vonage",
            ok=200,
            errors=(401, 402, 413, 415, 420, 423, 503),
            security="vonage",
            query=_VONAGE_CONVERSION_QUERY,
            error="VonageError",
            body_media="application/x-www-form-urlencoded",
            ok_media="text/plain",
        )
        for channel in ("sms", "voice")
    ),
    *(
        Operation(
            "post",
            path,
            f"Bird: create a {kind} message conversion",
            "bird",
            "BirdConversionIn",
            204,
            (401, 403, 404, 413, 422, 503),
            "accessKey",
            error="BirdError",
        )
        for kind, path in (("channel", bird.CHANNEL_PATH), ("navigator", bird.NAVIGATOR_PATH))
    ),
)
