"""The OpenAPI 3.1 document the app serves at ``/openapi.json``. Request schemas come from the
dialects' msgspec structs, so they cannot drift from what is decoded; a test checks that every
route of the app is documented here and nothing else is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from convroute import __version__
from convroute.api.dialects import bird, native, native_accounts, native_routes, plivo
from convroute.storage.views import STATS_DIMENSIONS


@dataclass(frozen=True)
class Operation:
    """One documented operation. ``aliases`` are other spellings of the same path (served,
    and documented as such); ``error`` names the error body's schema in components."""

    method: str
    path: str
    summary: str
    tag: str
    body: str | None = None
    ok: int = 200
    errors: tuple[int, ...] = (401, 404, 422)
    security: str | None = "bearer"
    query: tuple[tuple[str, str], ...] = ()
    aliases: tuple[str, ...] = ()
    error: str = "Error"
    body_media: str = "application/json"
    ok_media: str | None = None


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

_ADMIN = (401, 403)
_ROUTE_OPERATIONS = (
    Operation("get", "/api/v1/routes", "Every route (operator token)", "routes", errors=_ADMIN),
    Operation(
        "post",
        "/api/v1/routes",
        "Add a route: destinations with prices, connector and its config (operator token)",
        "routes",
        "RouteIn",
        201,
        (*_ADMIN, 409, 413, 415, 422),
    ),
    Operation(
        "get",
        "/api/v1/routes/quality",
        "Per candidate route for a destination: recent conversion and receipt rates, the "
        "router's estimate, share of traffic and why, whether its receipts diverge from its "
        "conversions; the anomalies the router raised for it in the last day: SMS pumping, a "
        "route's conversion drop, receipts that diverge, a route without receipts (operator "
        "token)",
        "routes",
        errors=(*_ADMIN, 422),
        query=(
            ("country", "Required: ISO 3166 alpha-2"),
            ("network", "Network name, as phonenumbers names it"),
            ("type", "otp (default), url, promo_code or other"),
            ("traffic_class", "2fa (default) or other"),
        ),
    ),
    Operation(
        "get", "/api/v1/routes/{route}", "A route by name or id", "routes", errors=(*_ADMIN, 404)
    ),
    Operation(
        "patch",
        "/api/v1/routes/{route}",
        "Enable or disable a route, replace its destinations and prices, connector or config",
        "routes",
        "RoutePatch",
        errors=(*_ADMIN, 404, 413, 415, 422),
    ),
    Operation(
        "delete",
        "/api/v1/routes/{route}",
        "Delete a route that never carried a message (409 otherwise: disable it instead)",
        "routes",
        ok=204,
        errors=(*_ADMIN, 404, 409),
    ),
)

_ACCOUNT_OPERATIONS = (
    Operation(
        "get", "/api/v1/accounts", "Every account (operator token)", "accounts", errors=_ADMIN
    ),
    Operation(
        "get",
        "/api/v1/accounts/{account}",
        "An account by name or id, with its credentials (no secrets; operator token)",
        "accounts",
        errors=(*_ADMIN, 404),
    ),
    Operation(
        "patch",
        "/api/v1/accounts/{account}",
        "Set an account's request rate (null: the default) or conversion reporting",
        "accounts",
        "AccountPatch",
        errors=(*_ADMIN, 404, 413, 415, 422),
    ),
    Operation(
        "post",
        "/api/v1/accounts/{account}/credentials/{credential}/revoke",
        "Revoke a credential now (401 on every instance within a second)",
        "accounts",
        errors=(*_ADMIN, 404),
    ),
    Operation(
        "post",
        "/api/v1/accounts/{account}/credentials/{credential}/rotate",
        "Issue a replacement credential; the old one stops after overlap_seconds",
        "accounts",
        "RotationIn",
        201,
        (*_ADMIN, 404, 413, 415, 422),
    ),
)

OPERATIONS = (
    *_ROUTE_OPERATIONS,
    *_ACCOUNT_OPERATIONS,
    Operation("get", "/api/v1/account", "Who the token belongs to", "native", errors=(401,)),
    Operation(
        "post",
        "/api/v1/messages",
        "Send a message (routed; returns its id and route)",
        "native",
        "MessageIn",
        201,
        (400, 401, 413, 415, 422, 503),
    ),
    Operation(
        "get",
        "/api/v1/messages/{message_id}",
        "A message with its conversion events and DLRs",
        "native",
        errors=(401, 404),
    ),
    Operation(
        "post",
        "/api/v1/messages/{message_id}/conversions",
        "Report a conversion (idempotent: an identical report answers 200 with the first one's id)",
        "native",
        "ConversionIn",
        201,
        (400, 401, 404, 413, 415, 422, 503),
    ),
    Operation(
        "post",
        "/api/v1/messages/{message_id}/dlr",
        "Record a delivery receipt",
        "native",
        "DlrIn",
        201,
        (400, 401, 404, 413, 415, 422, 503),
    ),
    Operation(
        "get",
        "/api/v1/stats/conversions",
        "Conversion counts and rates per group",
        "native",
        errors=(401, 422),
        query=(
            ("group_by", "comma-separated: " + ", ".join(STATS_DIMENSIONS)),
            ("from", "ISO 8601: messages sent at or after"),
            ("to", "ISO 8601: messages sent before"),
        ),
    ),
    Operation(
        "get",
        "/api/v1/windows",
        "The account's conversion windows, in seconds",
        "native",
        errors=(401,),
    ),
    Operation(
        "put",
        "/api/v1/windows/{type}",
        "Set the conversion window of a message type",
        "native",
        "WindowIn",
        errors=(401, 404, 415, 422),
    ),
    Operation(
        "delete",
        "/api/v1/windows/{type}",
        "Reset a message type's window to the default",
        "native",
        errors=(401, 404),
    ),
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
    ),
    Operation(
        "post",
        "/sms/json",
        "Vonage: send an SMS (always HTTP 200; a non-zero status in the body is an error)",
        "vonage",
        ok=200,
        errors=(),
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
    Operation(
        "get", "/healthz", "Liveness: the process answers", "operations", errors=(), security=None
    ),
    Operation(
        "get",
        "/readyz",
        "Readiness: the database answers",
        "operations",
        errors=(503,),
        security=None,
    ),
    Operation("get", "/metrics", "Prometheus metrics", "operations", errors=(), security=None),
    Operation("get", "/openapi.json", "This document", "operations", errors=(), security=None),
    Operation(
        "get", "/docs", "Human-readable API reference", "operations", errors=(), security=None
    ),
)


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
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _operation(op: Operation, path: str) -> dict[str, Any]:
    summary = op.summary if path == op.path else f"{op.summary} (also spelled {op.path})"
    ok: dict[str, Any] = {"description": "OK"}
    if op.ok_media:
        ok["content"] = {op.ok_media: {"schema": {"type": "string"}}}
    doc: dict[str, Any] = {"summary": summary, "tags": [op.tag], "responses": {str(op.ok): ok}}
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
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
    media = "text/plain" if op.error == "VonageError" else "application/json"
    for status in op.errors:
        doc["responses"][str(status)] = {
            "description": "error",
            "content": {media: {"schema": {"$ref": f"#/components/schemas/{op.error}"}}},
        }
    doc["security"] = [{op.security: []}] if op.security else []
    return doc


def openapi_document() -> dict[str, Any]:
    """The whole document."""
    _, components = msgspec.json.schema_components(
        (
            *native.SCHEMAS,
            *native_routes.SCHEMAS,
            *native_accounts.SCHEMAS,
            *plivo.SCHEMAS,
            *bird.SCHEMAS,
        ),
        ref_template="#/components/schemas/{name}",
    )
    components.update(_error_schemas())
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
                "accessKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AccessKey <key>",
                },
            },
        },
    }
