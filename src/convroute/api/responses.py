"""JSON Schemas of the success bodies, for the OpenAPI document. The endpoints build their
bodies as plain mappings; these say what they hold, and the API fuzzer (tests/api/
test_fuzz.py, ``make fuzz``) checks every answer it provokes against them, so a body that
drifts from its schema fails the suite."""

from __future__ import annotations

from typing import Any

from convroute.domain.statuses import ConversionStatus, Dialect, DlrStatus, MessageType

STRING: dict[str, Any] = {"type": "string"}
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
NUMBER: dict[str, Any] = {"type": "number"}
NULLABLE_NUMBER: dict[str, Any] = {"type": ["number", "null"]}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
INTEGER: dict[str, Any] = {"type": "integer"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object with these required properties (and optional ones); others are allowed."""
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def enum(values: type) -> dict[str, Any]:
    return {"type": "string", "enum": [v.value for v in values]}  # type: ignore[attr-defined]


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


_ROUTE_REF = obj({"id": STRING, "name": STRING})
_DESTINATION = obj({"country": STRING, "network": NULLABLE_STRING, "price": NUMBER})
_ESTIMATE = obj({"per_decision": NUMBER, "low": NUMBER, "high": NUMBER, "total": NUMBER})
_ROUTING = obj(
    {
        "goal": {"enum": ["conversions", "value", "cheapest-within", None]},
        "lambda": NULLABLE_NUMBER,
        "epsilon": NULLABLE_NUMBER,
        "allow_routes": array(STRING),
        "forbid_routes": array(STRING),
    }
)

_VERIFICATION = obj(
    {
        "id": STRING,
        "to": STRING,
        "channel": STRING,
        "status": {"enum": ["pending", "approved", "canceled", "expired", "max_attempts_reached"]},
        "country": STRING,
        "network": NULLABLE_STRING,
        "locale": STRING,
        "code_length": INTEGER,
        "attempts": INTEGER,
        "attempts_left": INTEGER,
        "sends": INTEGER,
        "message_id": STRING,
        "route_id": NULLABLE_STRING,
        "client_ref": NULLABLE_STRING,
        "created_at": TIME,
        "expires_at": TIME,
        "updated_at": TIME,
    }
)

_FORM_STRING = {"type": "string", "minLength": 1}
TWILIO: dict[str, dict[str, Any]] = {
    # the form bodies Twilio's SDK sends (only what convroute acts on is listed; Twilio's
    # other parameters are accepted and ignored)
    "TwilioVerificationIn": obj(
        {"To": _FORM_STRING, "Channel": {"enum": ["sms"]}}, {"Locale": STRING}
    ),
    "TwilioVerificationUpdateIn": obj({"Status": {"enum": ["canceled"]}}),
    "TwilioVerificationCheckIn": obj(
        {"Code": {"type": "string", "pattern": "^[0-9]{1,10}$"}},
        {"To": STRING, "VerificationSid": STRING},
    ),
    "TwilioMessageIn": obj(
        {"To": _FORM_STRING, "Body": _FORM_STRING},
        {
            "From": STRING,
            "MessagingServiceSid": STRING,
            "ProvideFeedback": {"enum": ["true", "false"]},
        },
    ),
    "TwilioFeedbackIn": obj({}, {"Outcome": {"enum": ["confirmed", "unconfirmed"]}}),
    "TwilioVerification": obj(
        {
            "sid": STRING,
            "service_sid": STRING,
            "account_sid": STRING,
            "to": STRING,
            "channel": STRING,
            "status": STRING,
            "valid": BOOLEAN,
            "date_created": TIME,
            "date_updated": TIME,
        },
    ),
    "TwilioVerificationCheck": obj(
        {"sid": STRING, "service_sid": STRING, "to": STRING, "status": STRING, "valid": BOOLEAN},
    ),
    "TwilioMessage": obj(
        {
            "sid": STRING,
            "account_sid": STRING,
            "to": STRING,
            "status": STRING,
            "date_created": STRING,
        },
    ),
    "TwilioFeedback": obj({"account_sid": STRING, "message_sid": STRING, "outcome": STRING}),
}

_PLIVO_MESSAGE = obj(
    {
        "api_id": STRING,
        "message_uuid": STRING,
        "from_number": STRING,
        "to_number": STRING,
        "message_direction": STRING,
        "message_state": STRING,
        "message_time": STRING,
        "message_type": STRING,
        "resource_uri": STRING,
    }
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "MessageSent": obj(
        {
            "id": {"type": "string", "format": "uuid"},
            "route": _ROUTE_REF,
            "price": NUMBER,
            "country": STRING,
            "network": NULLABLE_STRING,
            "sent_at": TIME,
        }
    ),
    "ConversionRecorded": obj(
        {
            "id": STRING,
            "message_id": STRING,
            "status": enum(ConversionStatus),
            "duplicate": BOOLEAN,
        }
    ),
    "DlrRecorded": obj({"id": STRING, "message_id": STRING, "status": enum(DlrStatus)}),
    "Message": obj(
        {
            "id": STRING,
            "src": STRING,
            "dst": STRING,
            "country": STRING,
            "type": enum(MessageType),
            "trackable": BOOLEAN,
            "sent_at": TIME,
            "status": {"type": ["string", "null"]},
            "final": BOOLEAN,
            "conversions": array(obj({"id": STRING, "status": STRING, "timestamp": TIME})),
            "dlrs": array(obj({"id": STRING, "status": STRING, "timestamp": TIME})),
            "routing": array(
                obj({"route": {"type": "object"}, "probability": NUMBER, "attempt": INTEGER})
            ),
        },
        {"window_closes_at": NULLABLE_TIME, "route": {"type": ["object", "null"]}},
    ),
    "ConversionStats": obj(
        {
            "group_by": array(STRING),
            "from": NULLABLE_TIME,
            "to": NULLABLE_TIME,
            "groups": array({"type": "object"}),
        }
    ),
    "Windows": {"type": "object", "additionalProperties": INTEGER},
    "DashboardSeries": obj(
        {
            "scope": {"type": "string", "enum": ["operator", "account"]},
            "context": obj({"country": STRING, "network": NULLABLE_STRING, "traffic": STRING}),
            "from": TIME,
            "to": TIME,
            "bucket_ms": INTEGER,
            "times": array(INTEGER),
            "routes": array(
                obj(
                    {
                        "id": STRING,
                        "name": STRING,
                        "price": NULLABLE_NUMBER,
                        "series": {
                            "type": ["object", "null"],
                            "additionalProperties": array(INTEGER),
                        },
                    },
                    {"router": {"type": ["object", "null"]}},
                )
            ),
        },
        {"networks_seen": array(STRING), "anomalies": array({"type": "object"}), "policy": STRING},
    ),
    "DashboardTotals": obj(
        {
            "scope": {"type": "string", "enum": ["operator", "account"]},
            "from": TIME,
            "to": TIME,
            "by_route": array(
                obj(
                    {
                        "id": STRING,
                        "name": STRING,
                        "messages": INTEGER,
                        "conversions": INTEGER,
                        "cost": NUMBER,
                        "conversion_rate": NULLABLE_NUMBER,
                        "cost_per_conversion": NULLABLE_NUMBER,
                    }
                )
            ),
            "by_country": array(
                obj(
                    {
                        "country": STRING,
                        "messages": INTEGER,
                        "conversions": INTEGER,
                        "cost": NUMBER,
                        "conversion_rate": NULLABLE_NUMBER,
                        "cost_per_conversion": NULLABLE_NUMBER,
                    }
                )
            ),
        }
    ),
    "Whoami": obj({"account_id": STRING, "credential_id": STRING, "traffic_class": STRING}),
    "Route": obj(
        {
            "id": STRING,
            "name": STRING,
            "enabled": BOOLEAN,
            "connector": STRING,
            "config": {"type": "object"},
            "destinations": array(_DESTINATION),
            "created_ms": INTEGER,
        }
    ),
    "Routes": obj({"routes": array(ref("Route"))}),
    "RouteQuality": obj(
        {
            "context": {"type": "object"},
            "account": NULLABLE_STRING,
            "routing": {"anyOf": [_ROUTING, {"type": "null"}]},
            "policy": STRING,
            "routes": array(
                obj({"id": STRING, "name": STRING, "share": NUMBER, "estimate": NUMBER})
            ),
            "anomalies": array(obj({"kind": STRING, "active": BOOLEAN, "started_at": TIME})),
        }
    ),
    "AccountRouting": _ROUTING,
    "Handset": obj(
        {
            "number": STRING,
            "messages": array(
                obj({"message_id": STRING, "route": STRING, "text": STRING, "received_at": TIME})
            ),
        }
    ),
    "VonageVerifyStarted": obj({"request_id": STRING}),
    "VonageVerifyChecked": obj({"request_id": STRING, "status": {"enum": ["completed"]}}),
    "VerifyInsights": obj(
        {
            "group_by": array(STRING),
            "from": TIME,
            "to": TIME,
            "groups": array(
                obj(
                    {
                        "started": INTEGER,
                        "approved": INTEGER,
                        "expired": INTEGER,
                        "max_attempts_reached": INTEGER,
                        "canceled": INTEGER,
                        "conversion_rate": NULLABLE_NUMBER,
                    }
                )
            ),
            "guard": array(
                obj({"decision": STRING, "reason": STRING, "country": STRING, "count": INTEGER})
            ),
        }
    ),
    **TWILIO,
    "Verification": _VERIFICATION,
    "VerificationCheck": {
        **_VERIFICATION,
        "properties": {**_VERIFICATION["properties"], "valid": BOOLEAN},
        "required": [*_VERIFICATION["required"], "valid"],
    },
    "VerifyGuard": obj(
        {
            "allowed_countries": array(STRING),
            "blocked_countries": array(STRING),
            "monitored_countries": array(STRING),
            "pumping": {"enum": ["block", "monitor"]},
        }
    ),
    "Evaluation": obj(
        {
            "policy": STRING,
            "decisions": INTEGER,
            "conversions": obj({"logged_per_decision": NUMBER, "doubly_robust": _ESTIMATE}),
            "value": obj({"logged_per_decision": NUMBER, "doubly_robust": _ESTIMATE}),
            "diagnostics": obj(
                {
                    "effective_sample_size": NUMBER,
                    "support_logged": NUMBER,
                    "own_choices": NUMBER,
                }
            ),
            "warnings": array(STRING),
        }
    ),
    "Account": obj(
        {
            "id": STRING,
            "name": STRING,
            "created_at": TIME,
            "conversions_enabled": BOOLEAN,
            "rate_limit_per_second": NULLABLE_NUMBER,
        },
        {
            "routing": _ROUTING,
            "credentials": array(
                obj(
                    {
                        "id": STRING,
                        "dialect": enum(Dialect),
                        "key_id": STRING,
                        "created_at": TIME,
                        "revoked_at": NULLABLE_TIME,
                        "live": BOOLEAN,
                    }
                )
            ),
        },
    ),
    "Accounts": obj({"accounts": array(obj({"id": STRING, "name": STRING}))}),
    "Revoked": obj({"id": STRING, "revoked_at": TIME}),
    "Rotated": obj(
        {"credential": obj({"id": STRING}), "old": obj({"id": STRING, "revoked_at": TIME})}
    ),
    "PlivoMessageQueued": obj(
        {"api_id": STRING, "message": STRING, "message_uuid": array(STRING)},
        {"invalid_number": array(STRING)},
    ),
    "PlivoMessage": _PLIVO_MESSAGE,
    "PlivoMessageList": obj(
        {
            "api_id": STRING,
            "meta": obj(
                {
                    "limit": INTEGER,
                    "offset": INTEGER,
                    "next": NULLABLE_STRING,
                    "previous": NULLABLE_STRING,
                }
            ),
            "objects": array(_PLIVO_MESSAGE),
        }
    ),
    "PlivoConversionRecorded": obj(
        {
            "api_id": STRING,
            "conversion_uuid": STRING,
            "message": STRING,
            "message_uuid": STRING,
        }
    ),
    "VonageSmsResponse": obj(
        {
            "message-count": STRING,
            "messages": array(
                obj(
                    {"status": STRING},
                    {
                        "to": STRING,
                        "message-id": STRING,
                        "message-price": STRING,
                        "remaining-balance": STRING,
                        "network": STRING,
                        "client-ref": STRING,
                        "error-text": STRING,
                    },
                )
            ),
        }
    ),
}
