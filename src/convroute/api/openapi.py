"""The OpenAPI 3.1 document the app serves at ``/openapi.json``. Request schemas come from the
dialects' msgspec structs, so they cannot drift from what is decoded, with the rules the
server enforces beyond their types; success bodies from ``responses.py``; the operations from
``operations.py``."""

from __future__ import annotations

from typing import Any

import msgspec

from convroute import __version__
from convroute.api.dialects import (
    bird,
    native,
    native_accounts,
    native_routes,
    native_routing,
    native_verify,
    plivo,
    vonage_verify,
)
from convroute.api.operation import Operation
from convroute.api.operations import OPERATIONS
from convroute.api.responses import SCHEMAS as RESPONSES
from convroute.domain.statuses import MessageType
from convroute.domain.verify import ATTEMPTS, CHANNELS, CODE_LENGTHS, EXPIRY_S, MAX_TEMPLATE
from convroute.domain.windows import MAX_WINDOW_S
from convroute.services.accounts import MAX_OVERLAP_S, MAX_RATE_LIMIT
from convroute.services.guard import PUMPING_MODES
from convroute.services.messaging import MAX_SENDER_LENGTH, MAX_TEXT_LENGTH
from convroute.services.objectives import GOALS, MAX_LAMBDA, MAX_ROUTES
from convroute.services.routes import MAX_PRICE


def _error_schemas() -> dict[str, Any]:
    """Each dialect's error body."""
    strings = {"type": "array", "items": {"type": "string"}}
    problem = {  # native's "error" object and Bird's whole body share this shape
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "details": {"type": "object", "additionalProperties": strings},
        },
    }
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": problem}},
        "PlivoError": {
            "type": "object",
            "required": ["api_id", "error"],
            "properties": {"api_id": {"type": "string"}, "error": {"type": "string"}},
        },
        "BirdError": problem,
        "VonageError": {"type": "string", "description": "Plain text: the reason"},
        "VonageProblem": {
            "type": "object",
            "required": ["type", "title"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
            },
        },
        "TwilioError": {
            "type": "object",
            "required": ["code", "message", "status"],
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "more_info": {"type": "string"},
                "status": {"type": "integer"},
            },
        },
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


_UUID = {"type": "string", "format": "uuid"}
_HEX32 = "[0-9a-f]{32}"
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    # a path id that cannot name a message is simply not found; documented as what exists
    "message_id": _UUID,
    "message_uuid": _UUID,
    "messageId": _UUID,
    "auth_id": {"type": "string", "pattern": "^MA[A-Z0-9]{18}$"},
    "type": {"type": "string", "enum": [t.value for t in MessageType]},
    "service_sid": {"type": "string", "pattern": f"^VA{_HEX32}$"},
    "account_sid": {"type": "string", "pattern": f"^AC{_HEX32}$"},
    "sid": {"type": "string", "pattern": f"^VE{_HEX32}$"},
    "message_sid": {"type": "string", "pattern": f"^SM{_HEX32}$"},
    "request_id": _UUID,
}

CONSTRAINTS: dict[tuple[str, str], dict[str, Any]] = {
    # what the server enforces beyond the structs' types (validate_send, the dialects, the
    # services), so that the document says it too
    ("MessageIn", "src"): {"minLength": 1, "maxLength": MAX_SENDER_LENGTH},
    ("MessageIn", "dst"): {"pattern": r"^\s*\+?[0-9][0-9 -]{6,20}\s*$"},
    ("MessageIn", "text"): {"minLength": 1, "maxLength": MAX_TEXT_LENGTH},
    ("MessageIn", "client_ref"): {"maxLength": 200},
    ("ConversionIn", "timestamp"): {"format": "date-time"},
    ("DlrIn", "timestamp"): {"format": "date-time"},
    ("DlrIn", "error_code"): {"maxLength": 32},
    ("WindowIn", "seconds"): {"minimum": 1, "maximum": MAX_WINDOW_S},
    ("PlivoMessageIn", "text"): {"maxLength": MAX_TEXT_LENGTH},
    ("PlivoMessageIn", "src"): {"maxLength": MAX_SENDER_LENGTH},
    ("PlivoConversionIn", "timestamp"): {"format": "date-time"},
    ("BirdConversionIn", "timestamp"): {"format": "date-time"},
    ("RouteIn", "name"): {"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"},
    ("DestinationIn", "country"): {"pattern": r"^([A-Za-z]{2}|\*)$"},
    ("DestinationIn", "price"): {"minimum": 0, "maximum": MAX_PRICE},
    ("DestinationIn", "network"): {"minLength": 1, "maxLength": 64},
    ("RotationIn", "overlap_seconds"): {"minimum": 0, "maximum": MAX_OVERLAP_S},
    ("RoutingIn", "goal"): {"enum": list(GOALS)},
    ("RoutingIn", "lambda"): {"minimum": 0, "maximum": MAX_LAMBDA},
    ("RoutingIn", "epsilon"): {"minimum": 0, "maximum": 1},
    ("RoutingIn", "allow_routes"): {"maxItems": MAX_ROUTES},
    ("RoutingIn", "forbid_routes"): {"maxItems": MAX_ROUTES},
    ("VerificationIn", "to"): {"pattern": r"^\s*\+?[0-9][0-9 -]{6,20}\s*$"},
    ("VerificationIn", "channel"): {"enum": list(CHANNELS)},
    ("VerificationIn", "code_length"): {"minimum": CODE_LENGTHS[0], "maximum": CODE_LENGTHS[1]},
    ("VerificationIn", "expiry_seconds"): {"minimum": EXPIRY_S[0], "maximum": EXPIRY_S[1]},
    ("VerificationIn", "max_attempts"): {"minimum": ATTEMPTS[0], "maximum": ATTEMPTS[1]},
    ("VerificationIn", "template"): {"maxLength": MAX_TEMPLATE, "pattern": "\\{code\\}"},
    ("VerificationIn", "sender"): {"minLength": 1, "maxLength": MAX_SENDER_LENGTH},
    ("VerificationIn", "client_ref"): {"maxLength": 200},
    ("VerificationIn", "locale"): {"pattern": "^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$"},
    ("CheckIn", "code"): {"pattern": "^[0-9]{1,10}$"},
    ("ResendIn", "template"): {"maxLength": MAX_TEMPLATE, "pattern": "\\{code\\}"},
    ("ResendIn", "sender"): {"minLength": 1, "maxLength": MAX_SENDER_LENGTH},
    ("GuardIn", "pumping"): {"enum": list(PUMPING_MODES)},
    ("VerifyIn", "brand"): {"minLength": 1, "maxLength": 16},
    ("VerifyIn", "workflow"): {"minItems": 1, "maxItems": 1},
    ("WorkflowIn", "channel"): {"enum": ["sms"]},
    ("VerifyIn", "code_length"): {"minimum": CODE_LENGTHS[0], "maximum": CODE_LENGTHS[1]},
    ("AccountPatch", "rate_limit_per_second"): {
        "exclusiveMinimum": 0,
        "maximum": MAX_RATE_LIMIT,
    },
}

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


def _constrained(components: dict[str, Any]) -> None:
    for (struct, field), extra in CONSTRAINTS.items():
        prop = components[struct]["properties"][field]
        target = next((o for o in prop.get("anyOf", []) if o.get("type") != "null"), prop)
        target.update(extra)


def _error(op: Operation, status: int) -> dict[str, Any]:
    if op.path == "/sms/json":  # Vonage's SMS API answers in its own body, also when throttled
        media, schema = "application/json", "VonageSmsResponse"
    else:
        media = "text/plain" if op.error == "VonageError" else "application/json"
        schema = op.error
    answer: dict[str, Any] = {
        "description": "error",
        "content": {media: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if status == 429:
        answer["description"] = "too many requests or failed authentications"
        answer["headers"] = _RETRY_AFTER
    return answer


def _errors(op: Operation) -> list[int]:
    """The documented errors, with those every endpoint of a kind can answer: a JSON body
    that cannot be read (400, 413, 415 for native and operator bodies), and rate limits (429)
    wherever a request authenticates."""
    out = set(op.errors)
    if op.body and op.error == "Error":
        out |= {400, 413, 415}
    if op.security:
        out.add(429)
    return sorted(out)


def _ok(description: str, media: str | None, schema: str | None) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": description}
    if schema:
        ok["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    elif media:
        ok["content"] = {media: {"schema": {"type": "string"}}}
    return ok


def _operation(op: Operation, path: str) -> dict[str, Any]:
    summary = op.summary if path == op.path else f"{op.summary} (also spelled {op.path})"
    responses = {str(op.ok): _ok("OK", op.ok_media, op.ok_schema)}
    for status, schema in op.also:
        responses[str(status)] = _ok("OK (an identical request was answered before)", None, schema)
    doc: dict[str, Any] = {"summary": summary, "tags": [op.tag], "responses": responses}
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_SCHEMAS.get(name, {"type": "string"}),
        }
        for name in _path_params(path)
    ]
    params += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": "string"},
        }
        for name, text in op.query
    ]
    if params:
        doc["parameters"] = params
    if op.body:
        doc["requestBody"] = {
            "required": True,
            "content": {op.body_media: {"schema": {"$ref": f"#/components/schemas/{op.body}"}}},
        }
    for status in _errors(op):
        responses[str(status)] = _error(op, status)
    doc["security"] = [{op.security: []}] if op.security else []
    return doc


def openapi_document() -> dict[str, Any]:
    """The whole document."""
    _, components = msgspec.json.schema_components(
        (
            *native.SCHEMAS,
            *native_routes.SCHEMAS,
            *native_accounts.SCHEMAS,
            *native_routing.SCHEMAS,
            *native_verify.SCHEMAS,
            *vonage_verify.SCHEMAS,
            *plivo.SCHEMAS,
            *bird.SCHEMAS,
        ),
        ref_template="#/components/schemas/{name}",
    )
    _constrained(components)
    components.update(_error_schemas())
    components.update(RESPONSES)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        for path in (op.path, *op.aliases):
            paths.setdefault(path, {})[op.method] = _operation(op, path)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "convroute",
            "version": __version__,
            "description": "Conversion feedback (native, Plivo, Vonage and Bird dialects) and "
            "conversion-driven SMS routing.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic", "description": "auth_id:auth_token"},
                "vonage": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "api_key",
                    "description": "api_key with api_secret or sig (query or form), or HTTP "
                    "Basic api_key:api_secret",
                },
                "vonageBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "Vonage's api_key:api_secret",
                },
                "twilio": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "Twilio's Account SID:auth token",
                },
                "accessKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AccessKey <key>",
                },
            },
        },
    }
