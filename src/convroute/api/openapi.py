"""The OpenAPI 3.1 document the app serves at ``/openapi.json``. Request schemas come from the
dialects' msgspec structs, so they cannot drift from what is decoded; a test checks that every
route of the app is documented here and nothing else is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from convroute import __version__
from convroute.api.dialects import native
from convroute.storage.views import STATS_DIMENSIONS


@dataclass(frozen=True)
class Operation:
    """One documented operation."""

    method: str
    path: str
    summary: str
    tag: str
    body: str | None = None
    ok: int = 200
    errors: tuple[int, ...] = (401, 404, 422)
    security: str | None = "bearer"
    query: tuple[tuple[str, str], ...] = ()


OPERATIONS = (
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


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    }


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "responses": {str(op.ok): {"description": "OK"}},
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ("message_id", "type")
        if "{" + name + "}" in op.path
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
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{op.body}"}}
            },
        }
    for status in op.errors:
        doc["responses"][str(status)] = {
            "description": "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    doc["security"] = [{op.security: []}] if op.security else []
    return doc


def openapi_document() -> dict[str, Any]:
    """The whole document."""
    _, components = msgspec.json.schema_components(
        native.SCHEMAS, ref_template="#/components/schemas/{name}"
    )
    components["Error"] = _error_schema()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
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
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
