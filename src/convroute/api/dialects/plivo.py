"""Plivo's dialect: Send Message with ``trackable`` and the Conversion Feedback API.

Wire format as Plivo documents it (seeds 000 and 001): HTTP Basic with ``auth_id:auth_token``
and the same ``auth_id`` in the path, JSON only, answers carrying an ``api_id``, errors as
``{"api_id": ..., "error": "..."}``. Both path casings (``/v1/Account/.../Conversion/`` and
``/v1/account/.../conversion``) are served, with or without the trailing slash.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from convroute.api.http import (
    authenticate_key_secret,
    authenticator,
    basic_credentials,
    classify,
    container,
    guarded,
    json_response,
    read_json,
    read_json_raw,
)
from convroute.api.problems import HttpProblem
from convroute.domain.clock import parse_iso8601
from convroute.domain.commands import RecordConversion, SendMessage
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
from convroute.domain.ids import new_id
from convroute.domain.models import Principal
from convroute.domain.statuses import ConversionStatus, Dialect
from convroute.services.messaging import admit_report, default_message_type, validate_send

MAX_DESTINATIONS = 1000  # Plivo's bulk send: ``dst`` joins numbers with ``<``

# -- request bodies ---------------------------------------------------------------------------


class PlivoMessageIn(msgspec.Struct, forbid_unknown_fields=True):
    """Plivo's Send Message body. Fields Plivo accepts that convroute does not act on (``url``,
    ``method``, ``log``, ``message_expiry``, ``dlt_*``) are accepted and ignored; fields for
    channels convroute does not send (MMS, WhatsApp, powerpacks) are refused."""

    dst: str
    text: str | None = None
    src: str | None = None
    type: str = "sms"
    trackable: bool | str = False
    url: str | None = None
    method: str | None = None
    log: bool | str | None = None
    powerpack_uuid: str | None = None
    media_urls: list[str] | None = None
    media_ids: list[str] | None = None
    message_expiry: int | None = None
    template: dict[str, Any] | None = None
    interactive: dict[str, Any] | None = None
    location: dict[str, Any] | None = None
    dlt_entity_id: str | None = None
    dlt_template_id: str | None = None
    dlt_template_category: str | None = None


class PlivoConversionIn(msgspec.Struct, forbid_unknown_fields=True):
    """Plivo's Conversion Feedback body: both fields are mandatory."""

    status: Literal["CONVERTED", "NOT_CONVERTED", "CONVERTED_WITH_OTHERS"]
    timestamp: str


SCHEMAS = (PlivoMessageIn, PlivoConversionIn)

STATUSES = {
    "CONVERTED": ConversionStatus.CONVERTED,
    "NOT_CONVERTED": ConversionStatus.NOT_CONVERTED,
    "CONVERTED_WITH_OTHERS": ConversionStatus.CONVERTED_OTHER,
}

# -- errors -----------------------------------------------------------------------------------

_STATUS: tuple[tuple[type[ConvrouteError], int], ...] = (
    (ValidationError, 400),  # Plivo answers 400 to a missing or invalid parameter
    (NotFoundError, 404),
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (ConflictError, 409),
    (RateLimitedError, 429),
    (StorageError, 503),
)


def render_error(exc: ConvrouteError) -> Response:
    """Any error in Plivo's shape: ``{"api_id": ..., "error": "..."}``."""
    status = exc.status if isinstance(exc, HttpProblem) else classify(exc, _STATUS, 500)
    headers = {"WWW-Authenticate": 'Basic realm="convroute"'} if status == 401 else None
    return json_response({"api_id": new_id(), "error": exc.message}, status, headers)


plivo = guarded(render_error)


@authenticator
async def authenticate(request: Request) -> Principal:
    """Basic ``auth_id:auth_token``; the path's ``auth_id`` must be the same account's."""
    given = basic_credentials(request)
    if given is None:
        raise AuthenticationError("authentication required: HTTP Basic with auth_id:auth_token")
    auth_id, token = given
    if auth_id != request.path_params["auth_id"]:
        raise AuthenticationError("the auth_id in the URL does not match the credentials")
    return await authenticate_key_secret(request, Dialect.PLIVO, auth_id, token)


def _flag(value: bool | str, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValidationError.field(field, f"must be true or false, got {value!r}")


def _sends(principal: Principal, body: PlivoMessageIn) -> list[SendMessage]:
    """One command per destination, every one validated before anything is queued."""
    if body.powerpack_uuid is not None:
        raise ValidationError.field("powerpack_uuid", "powerpacks are not supported: give src")
    if body.type != "sms":
        raise ValidationError.field("type", f"only sms is supported, got {body.type!r}")
    for field in ("media_urls", "media_ids", "template", "interactive", "location"):
        if getattr(body, field) is not None:
            raise ValidationError.field(field, "is only for MMS or WhatsApp, which are not sent")
    if body.src is None:
        raise ValidationError.field("src", "src parameter not present")
    if body.text is None:
        raise ValidationError.field("text", "text parameter not present")
    trackable = _flag(body.trackable, "trackable")
    numbers = list(dict.fromkeys(d.strip() for d in body.dst.split("<") if d.strip()))
    if not numbers:
        raise ValidationError.field("dst", "dst parameter not present")
    if len(numbers) > MAX_DESTINATIONS:
        raise ValidationError.field("dst", f"at most {MAX_DESTINATIONS} destinations")
    if body.src.strip().lstrip("+") in {n.lstrip("+") for n in numbers}:
        raise ValidationError.field("dst", "destination number cannot be same as source number")
    kind = default_message_type(principal)
    commands = [
        SendMessage(principal, body.src, number, body.text, kind, trackable) for number in numbers
    ]
    for command in commands:
        validate_send(command)
    return commands


# -- endpoints --------------------------------------------------------------------------------


@plivo
async def send_message(request: Request) -> Response:
    principal = await authenticate(request)
    commands = _sends(principal, await read_json(request, PlivoMessageIn))
    sent, refused = await container(request).dispatcher.send_all(commands)
    body: dict[str, object] = {
        "api_id": new_id(),
        "message": "message(s) queued",
        "message_uuid": [accepted.message_id for accepted in sent],
    }
    if refused:  # Plivo lists the numbers it could not send to beside those it queued
        body["invalid_number"] = [command.dst for command, _ in refused]
    return json_response(body, 202)


@plivo
async def record_conversion(request: Request) -> Response:
    principal = await authenticate(request)
    message_uuid = admit_report(principal, request.path_params["message_uuid"])
    raw, body = await read_json_raw(request, PlivoConversionIn)
    event_ms = parse_iso8601(body.timestamp)
    command = RecordConversion(
        principal, message_uuid, STATUSES[body.status], event_ms=event_ms, raw=raw
    )
    recorded = await container(request).committer.execute(command)
    return json_response(
        {
            "api_id": new_id(),
            "conversion_uuid": f"conv-{recorded.message_id}",
            "message": "successfully recorded.",
            "message_uuid": recorded.message_id,
        },
        headers={"X-Convroute-Event-Id": recorded.conversion_id},
    )


SEND_PATH = "/v1/Account/{auth_id}/Message/"
CONVERSION_PATH = "/v1/Account/{auth_id}/Message/{message_uuid}/Conversion/"
# Plivo's documents spell the conversion path both ways, with and without the final slash.
CONVERSION_ALIASES = (
    "/v1/Account/{auth_id}/Message/{message_uuid}/Conversion",
    "/v1/account/{auth_id}/message/{message_uuid}/conversion/",
    "/v1/account/{auth_id}/message/{message_uuid}/conversion",
)
SEND_ALIASES = ("/v1/Account/{auth_id}/Message", "/v1/account/{auth_id}/message/")

routes = [
    *(Route(p, send_message, methods=["POST"]) for p in (SEND_PATH, *SEND_ALIASES)),
    *(
        Route(p, record_conversion, methods=["POST"])
        for p in (CONVERSION_PATH, *CONVERSION_ALIASES)
    ),
]
