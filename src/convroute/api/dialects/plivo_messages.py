"""Plivo's Message resource, read (issue 23): ``GET /v1/Account/{auth_id}/Message/{uuid}/``
(the plivo SDK's ``messages.get``) and ``GET /v1/Account/{auth_id}/Message/`` (its
``messages.list``: ``limit`` 1-20, ``offset``, ``message_time__gt/gte/lt/lte``,
``message_state``), in Plivo's Message object and list shape (``{api_id, meta, objects}``),
so code written against Plivo that reads its messages back runs unchanged. Authentication
and errors as the rest of the Plivo dialect."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from convroute.api.dialects.plivo import SEND_ALIASES, SEND_PATH, authenticate, plivo
from convroute.api.http import container, json_response
from convroute.domain.errors import NotFoundError, ValidationError
from convroute.domain.ids import is_uuid, new_id
from convroute.storage.message_list import MAX_PAGE, Listed, list_messages

# Plivo's message_state from the receipt convroute holds (none yet: sent to the carrier)
_STATE = {"delivered": "delivered", "failed": "failed", "expired": "undelivered"}
_RECEIPTS: dict[str, tuple[str | None, ...]] = {
    "delivered": ("delivered",),
    "failed": ("failed",),
    "undelivered": ("expired",),
    "sent": (None, "unknown"),
    "queued": (),
    "rejected": (),
    "read": (),
}


def _time(ms: int) -> str:
    """Plivo's ``message_time``: ``2026-12-07 09:15:02+00:00``."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(sep=" ", timespec="seconds")


def message_object(auth_id: str, m: Listed) -> dict[str, Any]:
    return {
        "api_id": new_id(),
        "error_code": None,
        "from_number": m.src,
        "to_number": m.dst.lstrip("+"),
        "message_direction": "outbound",
        "message_state": _STATE.get(m.dlr_status or "", "sent"),
        "message_time": _time(m.sent_ms),
        "message_type": "sms",
        "message_uuid": m.id,
        "resource_uri": f"/v1/Account/{auth_id}/Message/{m.id}/",
        "total_amount": None,
        "total_rate": None,
        "units": 1,
        "destination_country_iso2": m.country,
        "conversion_status": m.status,  # (convroute's: the message's conversion, if known)
    }


@plivo
async def get_message(request: Request) -> Response:
    principal = await authenticate(request)
    uuid = request.path_params["message_uuid"].lower()
    store = container(request).store
    if not is_uuid(uuid):
        raise NotFoundError(f"message {uuid} not found")
    view = await run_in_threadpool(store.get_message, principal.account_id, uuid)
    m, s = view.message, view.state
    listed = Listed(
        m.id, m.src, m.dst, m.country, m.sent_ms, s.dlr_status,
        s.status.status.value if s.status else None,
    )  # fmt: skip
    return json_response(message_object(request.path_params["auth_id"], listed))


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError.field(name, "must be an integer") from None
    if not low <= value <= high:
        raise ValidationError.field(name, f"must be from {low} to {high}")
    return value


def _bounds(request: Request) -> tuple[int | None, int | None]:
    since = until = None
    for name, after in (("message_time__gt", 1), ("message_time__gte", 0)):
        if raw := request.query_params.get(name):
            since = _when(raw, name) + after
    for name, before in (("message_time__lt", 0), ("message_time__lte", 1)):
        if raw := request.query_params.get(name):
            until = _when(raw, name) + before
    if raw := request.query_params.get("message_time"):
        since = _when(raw, "message_time")
        until = since + 1000
    return since, until


def _when(raw: str, name: str) -> int:
    """Plivo's ``YYYY-MM-DD HH:MM[:SS[.ffffff]]`` (UTC without an offset), in ms."""
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationError.field(name, "must be a time such as 2026-12-07 09:15:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


@plivo
async def list_of_messages(request: Request) -> Response:
    principal = await authenticate(request)
    limit = _int(request, "limit", MAX_PAGE, 1, MAX_PAGE)
    offset = _int(request, "offset", 0, 0, 10_000_000)
    since, until = _bounds(request)
    state = request.query_params.get("message_state")
    if state is not None and state not in _RECEIPTS:
        raise ValidationError.field("message_state", f"must be one of {', '.join(_RECEIPTS)}")
    if request.query_params.get("message_direction") == "inbound":
        receipts: tuple[str | None, ...] | None = ()  # convroute receives no messages
    else:
        receipts = None if state is None else _RECEIPTS[state]
    store = container(request).store
    if receipts == ():
        rows: list[Listed] = []
    else:
        rows = await run_in_threadpool(
            store.read,
            lambda conn: list_messages(
                conn, principal.account_id, limit + 1, offset, since, until, receipts
            ),
        )
    auth_id = request.path_params["auth_id"]
    base = f"/v1/Account/{auth_id}/Message/"
    more = len(rows) > limit
    return json_response(
        {
            "api_id": new_id(),
            "meta": {
                "limit": limit,
                "offset": offset,
                "next": f"{base}?limit={limit}&offset={offset + limit}" if more else None,
                "previous": (
                    f"{base}?limit={limit}&offset={max(0, offset - limit)}" if offset else None
                ),
            },
            "objects": [message_object(auth_id, m) for m in rows[:limit]],
        }
    )


MESSAGE_PATH = "/v1/Account/{auth_id}/Message/{message_uuid}/"
MESSAGE_ALIASES = (
    "/v1/Account/{auth_id}/Message/{message_uuid}",
    "/v1/account/{auth_id}/message/{message_uuid}/",
)

routes = [
    *(Route(p, list_of_messages, methods=["GET"]) for p in (SEND_PATH, *SEND_ALIASES)),
    *(Route(p, get_message, methods=["GET"]) for p in (MESSAGE_PATH, *MESSAGE_ALIASES)),
]
