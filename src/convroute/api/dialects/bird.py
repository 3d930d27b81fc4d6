"""Bird's dialect: message conversions on a channel or a navigator, exactly per the OpenAPI
document of seed 004 (``MessageConversion``: ``type`` and ``status`` required, enums,
``method`` defaulting to ``unknown``, ``timestamp`` an RFC 3339 date-time, no other property).

``Authorization: AccessKey <key>``; the key is bound to one workspace, and any other workspace
in the path is not found. Answers: 204 on success (an identical report again is a success
too), 404 ``RequestError`` (``code``, ``message``), 422 ``ValidationError`` (``code``,
``message``, ``details`` per field). Bird has no send endpoint here: a Bird-dialect customer
sends through the native API (``POST /api/v1/messages``) and reports with the id it returns.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec
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
    read_json_raw,
)
from convroute.api.problems import HttpProblem
from convroute.domain.clock import parse_iso8601
from convroute.domain.commands import RecordConversion
from convroute.domain.errors import (
    AuthenticationError,
    ConflictError,
    ConvrouteError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    StorageError,
    ValidationError,
)
from convroute.domain.models import Principal
from convroute.domain.statuses import ConversionStatus, Dialect, MessageType, Method
from convroute.services.auth import bearer_key_id, principal_of
from convroute.services.messaging import admit_report

MESSAGE_NOT_FOUND = "The requested resource does not exist: message not found"

# -- request body -----------------------------------------------------------------------------


class BirdConversionIn(msgspec.Struct, forbid_unknown_fields=True):
    """Bird's ``MessageConversion``."""

    type: Literal["otp", "url", "promo_code"]
    status: Literal[
        "converted",
        "canceled",
        "not_converted",
        "incorrect_code",
        "resent",
        "received_after_expiration",
    ]
    method: Literal["unknown", "manual", "auto"] = "unknown"
    timestamp: str | msgspec.UnsetType = msgspec.UNSET  # present means a string, never null


SCHEMAS = (BirdConversionIn,)

# RFC 3339 ``date-time``: a full date, a time, and an offset (Z or ±hh:mm).
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")

# -- errors -----------------------------------------------------------------------------------

_STATUS: tuple[tuple[type[ConvrouteError], tuple[int, str]], ...] = (
    (ValidationError, (422, "InvalidPayload")),
    (NotFoundError, (404, "NotFound")),
    (AuthenticationError, (401, "Unauthorized")),
    (ForbiddenError, (403, "Forbidden")),
    (ConflictError, (409, "Conflict")),
    (RateLimitedError, (429, "TooManyRequests")),
    (StorageError, (503, "ServiceUnavailable")),
)


_HTTP_CODES = {
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    422: "InvalidPayload",
}


def render_error(exc: ConvrouteError) -> Response:
    """``RequestError`` (``code``, ``message``), or ``ValidationError`` with ``details``."""
    if isinstance(exc, HttpProblem):
        # Not JSON, or no JSON object: Bird's spec has one answer, "did not pass validation".
        status = 422 if exc.status in (400, 415) else exc.status
        code = _HTTP_CODES.get(status, "RequestError")
    else:
        status, code = classify(exc, _STATUS, (500, "InternalError"))
    body: dict[str, object] = {"code": code, "message": exc.message}
    details = getattr(exc, "details", None)
    if status == 422:
        body["details"] = details or {"body": [exc.message]}
    headers = {"WWW-Authenticate": 'AccessKey realm="convroute"'} if status == 401 else None
    return json_response(body, status, headers)


bird = guarded(render_error)


@authenticator
async def authenticate(request: Request) -> Principal:
    """``Authorization: AccessKey <key>``, for the workspace in the path."""
    key = bearer_token(request, "accesskey")
    principal = principal_of(await find_credential(request, Dialect.BIRD, bearer_key_id(key)), None)
    if principal.workspace_id != request.path_params["workspaceId"]:
        raise NotFoundError("The requested resource does not exist: workspace not found")
    return principal


def _timestamp(value: str | msgspec.UnsetType) -> int | None:
    if isinstance(value, msgspec.UnsetType):
        return None
    if not _RFC3339.match(value):
        raise ValidationError.field(
            "timestamp", "must be an RFC 3339 date-time such as 2024-05-01T10:00:00Z"
        )
    return parse_iso8601(value)


@bird
async def record_conversion(request: Request) -> Response:
    principal = await authenticate(request)
    try:
        message_id = admit_report(principal, request.path_params["messageId"])
    except NotFoundError:
        raise NotFoundError(MESSAGE_NOT_FOUND) from None
    raw, body = await read_json_raw(request, BirdConversionIn)
    c = container(request)
    command = RecordConversion(
        principal,
        message_id,
        ConversionStatus(body.status),
        MessageType(body.type),
        Method(body.method),
        _timestamp(body.timestamp),
        raw=raw,
    )
    try:
        await c.committer.execute(command)
    except NotFoundError:
        raise NotFoundError(MESSAGE_NOT_FOUND) from None
    return Response(status_code=204)


CHANNEL_PATH = "/workspaces/{workspaceId}/channels/{channelId}/messages/{messageId}/conversions"
NAVIGATOR_PATH = (
    "/workspaces/{workspaceId}/navigators/{navigatorId}/messages/{messageId}/conversions"
)

routes = [
    Route(CHANNEL_PATH, record_conversion, methods=["POST"]),
    Route(NAVIGATOR_PATH, record_conversion, methods=["POST"]),
]
