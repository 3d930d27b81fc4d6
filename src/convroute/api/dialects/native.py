"""convroute's own API, ``/api/v1``: Bearer-token auth, JSON in and out, errors as
``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from convroute.api.http import (
    authenticator,
    bearer_token,
    classify,
    container,
    find_credential,
    guarded,
    json_response,
    read_json,
    read_json_raw,
)
from convroute.api.problems import HttpProblem
from convroute.domain.clock import format_iso, parse_iso8601
from convroute.domain.commands import RecordConversion, RecordDlr, SendMessage
from convroute.domain.errors import (
    AuthenticationError,
    ConflictError,
    ConvrouteError,
    ForbiddenError,
    NoRouteError,
    NotFoundError,
    RateLimitedError,
    StorageError,
    ValidationError,
)
from convroute.domain.ids import is_uuid
from convroute.domain.models import ConversionEvent, DlrEvent, Principal
from convroute.domain.statuses import (
    ConversionStatus,
    Dialect,
    DlrStatus,
    MessageType,
    Method,
)
from convroute.domain.windows import MAX_WINDOW_S, window_seconds
from convroute.services.auth import bearer_key_id, principal_of
from convroute.services.messaging import admit_report, validate_send
from convroute.storage.views import STATS_DIMENSIONS, MessageView

# -- request bodies (their JSON Schemas go into the OpenAPI document) -------------------------


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    """Send a message. ``dst`` is E.164, with or without ``+``."""

    src: str
    dst: str
    text: str
    type: MessageType = MessageType.OTP
    trackable: bool = False
    client_ref: str | None = None


class ConversionIn(msgspec.Struct, forbid_unknown_fields=True):
    """Report a conversion. ``type`` defaults to the message's; ``timestamp`` (ISO 8601) to now."""

    status: ConversionStatus
    type: MessageType | None = None
    method: Method = Method.UNKNOWN
    timestamp: str | None = None


class DlrIn(msgspec.Struct, forbid_unknown_fields=True):
    """A delivery receipt. ``timestamp`` (ISO 8601) defaults to now."""

    status: DlrStatus
    timestamp: str | None = None
    error_code: str | None = None


class WindowIn(msgspec.Struct, forbid_unknown_fields=True):
    """A conversion window, in seconds."""

    seconds: int


SCHEMAS = (MessageIn, ConversionIn, DlrIn, WindowIn)

# -- errors: one table ------------------------------------------------------------------------

_STATUS: tuple[tuple[type[ConvrouteError], int], ...] = (
    (NoRouteError, 422),
    (ValidationError, 422),
    (NotFoundError, 404),
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (ConflictError, 409),
    (RateLimitedError, 429),
    (StorageError, 503),
)


def render_error(exc: ConvrouteError) -> Response:
    """Any error as a native error response."""
    if isinstance(exc, HttpProblem):
        status, code = exc.status, exc.code
    else:
        status, code = classify(exc, _STATUS, 500), exc.code
    body: dict[str, Any] = {"code": code, "message": exc.message}
    details = getattr(exc, "details", None)
    if details:
        body["details"] = details
    headers = {"WWW-Authenticate": 'Bearer realm="convroute"'} if status == 401 else None
    return json_response({"error": body}, status, headers)


native = guarded(render_error)


@authenticator
async def authenticate(request: Request) -> Principal:
    """The principal behind the request's Bearer token."""
    token = bearer_token(request)
    return principal_of(await find_credential(request, Dialect.NATIVE, bearer_key_id(token)), None)


def message_id_of(request: Request) -> str:
    """The path's message id; an id that cannot exist is simply not found."""
    message_id: str = request.path_params["message_id"]
    if not is_uuid(message_id):
        raise NotFoundError(f"message {message_id} not found")
    return message_id


def optional_time(value: str | None, field: str = "timestamp") -> int | None:
    """An optional ISO 8601 time (the writer refuses one more than an hour ahead)."""
    return None if value is None else parse_iso8601(value, field)


def grouped_range(
    request: Request, dimensions: Sequence[str], also: frozenset[str] = frozenset()
) -> tuple[list[str], int | None, int | None]:
    """A statistics query's ``group_by`` (distinct names among ``dimensions``) and its
    ``from``/``to`` (ISO 8601); any parameter but those and ``also`` is refused."""
    params = request.query_params
    unknown = set(params) - {"group_by", "from", "to", *also}
    if unknown:
        raise ValidationError(
            f"unknown query parameters: {', '.join(sorted(unknown))}",
            {name: ["is not a known parameter"] for name in sorted(unknown)},
        )
    group_by = [g.strip() for g in params.get("group_by", "").split(",") if g.strip()]
    bad = [g for g in group_by if g not in dimensions]
    if bad or len(set(group_by)) != len(group_by):
        raise ValidationError.field(
            "group_by", f"must be distinct names among {', '.join(dimensions)}"
        )
    from_ms = parse_iso8601(params["from"], "from") if "from" in params else None
    to_ms = parse_iso8601(params["to"], "to") if "to" in params else None
    if from_ms is not None and to_ms is not None and from_ms >= to_ms:
        raise ValidationError.field("to", "must be after from")
    return group_by, from_ms, to_ms


# -- endpoints --------------------------------------------------------------------------------


@native
async def send_message(request: Request) -> Response:
    principal = await authenticate(request)
    body = await read_json(request, MessageIn)
    command = SendMessage(
        principal, body.src, body.dst, body.text, body.type, body.trackable, body.client_ref
    )
    validate_send(command, number=False)  # fail fast; the writer parses the number
    accepted = await container(request).dispatcher.send(command)
    return json_response(
        {
            "id": accepted.message_id,
            "route": {"id": accepted.route_id, "name": accepted.route_name},
            "price": accepted.price,
            "country": accepted.country,
            "network": accepted.network,
            "sent_at": format_iso(accepted.sent_ms),
        },
        201,
    )


@native
async def record_conversion(request: Request) -> Response:
    principal = await authenticate(request)
    message_id = admit_report(principal, request.path_params["message_id"])
    raw, body = await read_json_raw(request, ConversionIn)
    c = container(request)
    command = RecordConversion(
        principal,
        message_id,
        body.status,
        body.type,
        body.method,
        optional_time(body.timestamp),
        raw=raw,
    )
    recorded = await c.committer.execute(command)
    return json_response(
        {
            "id": recorded.conversion_id,
            "message_id": recorded.message_id,
            "status": recorded.status,
            "duplicate": recorded.duplicate,
        },
        200 if recorded.duplicate else 201,
    )


@native
async def record_dlr(request: Request) -> Response:
    principal = await authenticate(request)
    message_id = message_id_of(request)
    raw, body = await read_json_raw(request, DlrIn)
    c = container(request)
    if body.error_code is not None and len(body.error_code) > 32:
        raise ValidationError.field("error_code", "must be at most 32 characters")
    command = RecordDlr(
        principal,
        message_id,
        body.status,
        optional_time(body.timestamp),
        body.error_code,
        raw=raw,
    )
    recorded = await c.committer.execute(command)
    return json_response(
        {"id": recorded.dlr_id, "message_id": recorded.message_id, "status": recorded.status}, 201
    )


@native
async def get_message(request: Request) -> Response:
    principal = await authenticate(request)
    message_id = message_id_of(request)
    view = await run_in_threadpool(
        container(request).store.get_message, principal.account_id, message_id
    )
    return json_response(render_message(view))


def optional_iso(ms: int | None) -> str | None:
    """Epoch ms as RFC 3339, or None."""
    return None if ms is None else format_iso(ms)


def _conversion(e: ConversionEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "status": e.status,
        "type": e.type,
        "method": e.method,
        "timestamp": format_iso(e.event_ms),
        "received_at": format_iso(e.received_ms),
        "source": e.source,
        "dialect": e.dialect,
        "traffic_class": e.traffic_class,
    }


def _dlr(e: DlrEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "status": e.status,
        "timestamp": format_iso(e.event_ms),
        "received_at": format_iso(e.received_ms),
        "error_code": e.error_code,
    }


def render_message(view: MessageView) -> dict[str, Any]:
    """A message and its events as the native API shows them."""
    m, s = view.message, view.state
    status = s.status
    return {
        "id": m.id,
        "src": m.src,
        "dst": m.dst,
        "country": m.country,
        "network": m.network,
        "type": m.type,
        "trackable": m.trackable,
        "client_ref": m.client_ref,
        "traffic_class": m.traffic_class,
        "dialect": m.dialect,
        "text_length": m.text_length,
        "route": {"id": m.route_id, "name": view.route_name} if m.route_id else None,
        "sent_at": format_iso(m.sent_ms),
        "status": status.status if status else None,
        "status_source": status.source if status else None,
        "status_at": optional_iso(status.event_ms) if status else None,
        "final": bool(status and (status.source == "window" or status.status.is_final)),
        "window_closes_at": optional_iso(s.window_due_ms),
        "dlr": {"status": s.dlr_status, "timestamp": optional_iso(s.dlr_ms)}
        if s.dlr_status
        else None,
        "conversions": [_conversion(e) for e in view.conversions],
        "dlrs": [_dlr(e) for e in view.dlrs],
        # its routing decisions: one, and one more per failover (a route refused it)
        "routing": [
            {
                "route": {"id": a.route_id, "name": a.route_name},
                "probability": a.probability,
                "attempt": a.attempt,
                "reason": a.reason,
                "decided_at": format_iso(a.decided_ms),
            }
            for a in view.routing
        ],
    }


@native
async def conversion_stats(request: Request) -> Response:
    principal = await authenticate(request)
    c = container(request)
    group_by, from_ms, to_ms = grouped_range(request, STATS_DIMENSIONS)
    groups = await run_in_threadpool(
        c.store.conversion_stats, principal.account_id, group_by, from_ms, to_ms
    )
    return json_response(
        {
            "group_by": group_by,
            "from": optional_iso(from_ms),
            "to": optional_iso(to_ms),
            "groups": groups,
        }
    )


def _message_type(request: Request) -> MessageType:
    raw = request.path_params["type"]
    try:
        return MessageType(raw)
    except ValueError:
        raise NotFoundError(f"no message type {raw!r}") from None


async def _windows_body(request: Request, principal: Principal) -> dict[str, int]:
    overrides = await run_in_threadpool(container(request).store.windows, principal.account_id)
    return {t.value: window_seconds(t, overrides) for t in MessageType}


@native
async def get_windows(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response(await _windows_body(request, principal))


@native
async def put_window(request: Request) -> Response:
    principal = await authenticate(request)
    message_type = _message_type(request)
    body = await read_json(request, WindowIn)
    if not 1 <= body.seconds <= MAX_WINDOW_S:
        raise ValidationError.field("seconds", f"must be between 1 and {MAX_WINDOW_S}")
    store = container(request).store
    await run_in_threadpool(store.set_window, principal.account_id, message_type, body.seconds)
    return json_response(await _windows_body(request, principal))


@native
async def delete_window(request: Request) -> Response:
    principal = await authenticate(request)
    message_type = _message_type(request)
    store = container(request).store
    await run_in_threadpool(store.set_window, principal.account_id, message_type, None)
    return json_response(await _windows_body(request, principal))


@native
async def whoami(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response(
        {
            "account_id": principal.account_id,
            "credential_id": principal.credential_id,
            "traffic_class": principal.traffic_class,
        }
    )


routes = [
    Route("/api/v1/account", whoami, methods=["GET"]),
    Route("/api/v1/messages", send_message, methods=["POST"]),
    Route("/api/v1/messages/{message_id}", get_message, methods=["GET"]),
    Route("/api/v1/messages/{message_id}/conversions", record_conversion, methods=["POST"]),
    Route("/api/v1/messages/{message_id}/dlr", record_dlr, methods=["POST"]),
    Route("/api/v1/stats/conversions", conversion_stats, methods=["GET"]),
    Route("/api/v1/windows", get_windows, methods=["GET"]),
    Route("/api/v1/windows/{type}", put_window, methods=["PUT"]),
    Route("/api/v1/windows/{type}", delete_window, methods=["DELETE"]),
]
