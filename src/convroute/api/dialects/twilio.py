"""Twilio's dialect (issue 23), as the ``twilio`` package speaks it: Verify v2
(``/v2/Services/{ServiceSid}/Verifications``, ``/VerificationCheck``) on convroute's Verify,
and the Programmable Messaging API (``/2010-04-01/Accounts/{AccountSid}/Messages.json``) with
``ProvideFeedback`` and its Message Feedback resource (``Outcome=confirmed|unconfirmed``):
Twilio's own conversion feedback, beside Plivo's, Vonage's and Bird's.

HTTP Basic with the Account SID and auth token; form bodies; answers and errors as Twilio's
JSON (``{"code", "message", "more_info", "status"}``, Twilio's error codes). Ids are
convroute's: a message's SID is ``SM`` and its id's 32 hex digits, a verification's ``VE``
and its id's. A Verify Service SID (``VA`` + 32 hex) is accepted as given: the account is
the service (its guard, its routing); the service's own settings are not kept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from convroute.api.http import (
    authenticate_key_secret,
    authenticator,
    basic_credentials,
    container,
    guarded,
    json_response,
    media_type,
    parse_form,
    read_body,
)
from convroute.api.problems import HttpProblem, unsupported_media_type
from convroute.domain.clock import format_iso
from convroute.domain.commands import RecordConversion, SendMessage
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
from convroute.domain.models import Principal
from convroute.domain.statuses import ConversionStatus, Dialect, Method
from convroute.domain.verify import Verification, VerificationStatus
from convroute.services.guard import GuardRefusal
from convroute.services.messaging import admit_report, default_message_type, validate_send
from convroute.services.verify import Start

FORM = "application/x-www-form-urlencoded"
_HEX = set("0123456789abcdef")

# -- errors: Twilio's codes -------------------------------------------------------------------


def _twilio_error(exc: ConvrouteError) -> tuple[int, int]:
    """(HTTP status, Twilio error code) of an error."""
    if isinstance(exc, HttpProblem):
        return exc.status, {400: 60200, 404: 20404, 405: 20004, 413: 60200, 415: 60200}.get(
            exc.status, 20500
        )
    if isinstance(exc, GuardRefusal):
        return 403, 60605 if exc.code == "country_blocked" else 60410
    table: tuple[tuple[type[ConvrouteError], int, int], ...] = (
        (NoRouteError, 400, 60200),
        (ValidationError, 400, 60200),
        (NotFoundError, 404, 20404),
        (AuthenticationError, 401, 20003),
        (ForbiddenError, 403, 20403),
        (RateLimitedError, 429, 60203),
        (ConflictError, 409, 60203),
        (StorageError, 503, 20503),
    )
    for kind, status, code in table:
        if isinstance(exc, kind):
            return status, code
    return 500, 20500


def render_error(exc: ConvrouteError) -> Response:
    status, code = _twilio_error(exc)
    body = {
        "code": code,
        "message": exc.message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return json_response(body, status, headers)


twilio = guarded(render_error)


@authenticator
async def authenticate(request: Request) -> Principal:
    """Basic ``AccountSid:AuthToken``; a path's Account SID must be the same."""
    given = basic_credentials(request)
    if given is None:
        raise AuthenticationError("authentication required: HTTP Basic with AccountSid:AuthToken")
    sid, token = given
    in_path = request.path_params.get("account_sid")
    if in_path is not None and in_path != sid:
        raise AuthenticationError("the Account SID in the URL does not match the credentials")
    return await authenticate_key_secret(request, Dialect.TWILIO, sid, token)


async def form(request: Request) -> dict[str, str]:
    """The form body's parameters (the last of a repeated one)."""
    body = await read_body(request)
    if not body:
        return {}
    if media_type(request) != FORM:
        raise unsupported_media_type(FORM, request.headers.get("content-type"))
    try:
        return dict(parse_form(body.decode()))
    except (UnicodeDecodeError, ValueError):
        raise ValidationError.field("body", "is not a valid form body") from None


def _flag(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise ValidationError.field(name, "must be true or false")
    return value == "true"


def _sid(prefix: str, value: str, what: str) -> str:
    """The id a SID names: ``prefix`` and 32 hex digits; anything else is not found."""
    hexa = value[2:]
    if not (value.startswith(prefix) and len(hexa) == 32 and set(hexa) <= _HEX):
        raise NotFoundError(f"the requested {what} {value} was not found")
    return f"{hexa[:8]}-{hexa[8:12]}-{hexa[12:16]}-{hexa[16:20]}-{hexa[20:]}"


def _sid_of(prefix: str, uuid: str) -> str:
    return prefix + uuid.replace("-", "")


def _service(request: Request) -> str:
    service: str = request.path_params["service_sid"]
    _sid("VA", service, "Service")
    return service


def _twilio_time(ms: int) -> str:
    return format_iso(ms).replace(".000", "")


# -- Verify v2 --------------------------------------------------------------------------------

_STATUS = {
    VerificationStatus.PENDING: "pending",
    VerificationStatus.APPROVED: "approved",
    VerificationStatus.CANCELED: "canceled",
    VerificationStatus.EXPIRED: "expired",
    VerificationStatus.MAX_ATTEMPTS: "max_attempts_reached",
}


def verification_json(v: Verification, service: str, account_sid: str) -> dict[str, Any]:
    sid = _sid_of("VE", v.id)
    return {
        "sid": sid,
        "service_sid": service,
        "account_sid": account_sid,
        "to": v.to,
        "channel": v.channel,
        "status": _STATUS[v.status],
        "valid": v.status is VerificationStatus.APPROVED,
        "lookup": {"carrier": {"name": v.network, "mobile_country_code": None,
                               "type": "mobile", "error_code": None}},
        "amount": None,
        "payee": None,
        "send_code_attempts": [
            {"time": _twilio_time(v.updated_ms), "channel": v.channel,
             "attempt_sid": _sid_of("VL", v.message_id)}
        ],
        "date_created": _twilio_time(v.created_ms),
        "date_updated": _twilio_time(v.updated_ms),
        "sna": None,
        "url": f"https://verify.twilio.com/v2/Services/{service}/Verifications/{sid}",
    }  # fmt: skip


def check_json(v: Verification, service: str, account_sid: str, valid: bool) -> dict[str, Any]:
    out = verification_json(v, service, account_sid)
    out["valid"] = valid
    for key in ("lookup", "send_code_attempts", "url"):
        del out[key]
    out["sna_attempts_error_codes"] = []
    return out


@twilio
async def start_verification(request: Request) -> Response:
    principal = await authenticate(request)
    service = _service(request)
    params = await form(request)
    for name in ("To", "Channel"):
        if not params.get(name):
            raise ValidationError.field(name, f"{name} is required")
    if params.get("CustomCode"):
        raise ValidationError.field("CustomCode", "custom codes are not supported")
    verifier = container(request).verifier
    pending = await verifier.pending_to(principal, params["To"])
    if pending is not None:  # Twilio's way: a new verification to the same number resends
        v = await verifier.resend(principal, pending.id)
    else:
        v = await verifier.start(
            principal,
            Start(to=params["To"], channel=params["Channel"], locale=params.get("Locale"),
                  template=None, sender="Verify"),
        )  # fmt: skip
    return json_response(verification_json(v, service, principal_sid(request)), 201)


def principal_sid(request: Request) -> str:
    given = basic_credentials(request)
    assert given is not None  # (authenticated)
    return given[0]


@twilio
async def fetch_verification(request: Request) -> Response:
    principal = await authenticate(request)
    service = _service(request)
    vid = _sid("VE", request.path_params["sid"], "Verification")
    v = await container(request).verifier.read(principal, vid)
    return json_response(verification_json(v, service, principal_sid(request)))


@twilio
async def update_verification(request: Request) -> Response:
    principal = await authenticate(request)
    service = _service(request)
    vid = _sid("VE", request.path_params["sid"], "Verification")
    params = await form(request)
    status = params.get("Status")
    if status != "canceled":
        raise ValidationError.field("Status", "must be canceled (approval is by code)")
    v = await container(request).verifier.cancel(principal, vid)
    return json_response(verification_json(v, service, principal_sid(request)))


@twilio
async def verification_check(request: Request) -> Response:
    principal = await authenticate(request)
    service = _service(request)
    params = await form(request)
    code = params.get("Code")
    if not code:
        raise ValidationError.field("Code", "Code is required")
    verifier = container(request).verifier
    if params.get("VerificationSid"):
        vid = _sid("VE", params["VerificationSid"], "VerificationCheck")
        v = await verifier.read(principal, vid)
    elif params.get("To"):
        found = await verifier.pending_to(principal, params["To"])
        if found is None:
            raise NotFoundError("the requested resource VerificationCheck was not found")
        v = found
    else:
        raise ValidationError.field("To", "either To or VerificationSid is required")
    if v.status is VerificationStatus.MAX_ATTEMPTS:
        raise RateLimitedError("Max check attempts reached", 60)
    if v.status is not VerificationStatus.PENDING:  # Twilio forgets a final verification
        raise NotFoundError("the requested resource VerificationCheck was not found")
    checked = await verifier.check(principal, v.id, code, Method.MANUAL)
    return json_response(
        check_json(checked.verification, service, principal_sid(request), checked.valid)
    )


# -- Programmable Messaging, with Message Feedback --------------------------------------------


def _rfc2822(ms: int) -> str:
    return format_datetime(datetime.fromtimestamp(ms / 1000, UTC))


def message_json(
    account_sid: str, message_id: str, to: str, sender: str, body: str | None, sent_ms: int,
    status: str = "queued",
) -> dict[str, Any]:  # fmt: skip
    sid = _sid_of("SM", message_id)
    uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}"
    return {
        "sid": sid, "account_sid": account_sid, "to": to, "from": sender, "body": body,
        "status": status, "direction": "outbound-api", "num_segments": "1", "num_media": "0",
        "price": None, "price_unit": "USD", "error_code": None, "error_message": None,
        "messaging_service_sid": None, "api_version": "2010-04-01",
        "date_created": _rfc2822(sent_ms), "date_updated": _rfc2822(sent_ms),
        "date_sent": None, "uri": f"{uri}.json",
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
    }  # fmt: skip


@twilio
async def send_message(request: Request) -> Response:
    principal = await authenticate(request)
    params = await form(request)
    for name in ("To", "Body"):
        if not params.get(name):
            raise ValidationError.field(name, f"{name} is required")
    sender = params.get("From") or params.get("MessagingServiceSid") or ""
    if not sender:
        raise ValidationError.field("From", "a From or MessagingServiceSid is required")
    command = SendMessage(
        principal, sender[:20], params["To"], params["Body"], default_message_type(principal),
        _flag(params, "ProvideFeedback"),
    )  # fmt: skip
    validate_send(command, number=False)
    accepted = await container(request).dispatcher.send(command)
    return json_response(
        message_json(principal_sid(request), accepted.message_id, accepted.dst, command.src,
                     command.text, accepted.sent_ms),
        201,
    )  # fmt: skip


@twilio
async def fetch_message(request: Request) -> Response:
    principal = await authenticate(request)
    message_id = _sid("SM", request.path_params["message_sid"], "Message")
    store = container(request).store
    m = (await run_in_threadpool(store.get_message, principal.account_id, message_id)).message
    return json_response(
        message_json(principal_sid(request), m.id, m.dst, m.src, None, m.sent_ms, "sent")
    )


_OUTCOMES = {"confirmed": ConversionStatus.CONVERTED, "unconfirmed": ConversionStatus.NOT_CONVERTED}


@twilio
async def feedback(request: Request) -> Response:
    principal = await authenticate(request)
    sid = request.path_params["message_sid"]
    message_id = admit_report(principal, _sid("SM", sid, "Message"))
    params = await form(request)
    outcome = params.get("Outcome", "confirmed")  # Twilio's default
    if outcome not in _OUTCOMES:
        raise ValidationError.field("Outcome", "must be confirmed or unconfirmed")
    c = container(request)
    await c.committer.execute(
        RecordConversion(principal, message_id, _OUTCOMES[outcome], None, Method.UNKNOWN, None)
    )
    now = c.clock()
    account_sid = principal_sid(request)
    return json_response(
        {
            "account_sid": account_sid,
            "message_sid": sid,
            "outcome": outcome,
            "date_created": _rfc2822(now),
            "date_updated": _rfc2822(now),
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Feedback.json",
        },
        201,
    )


_ACCOUNT = "/2010-04-01/Accounts/{account_sid}"
_SERVICE = "/v2/Services/{service_sid}"

routes = [
    Route(f"{_SERVICE}/Verifications", start_verification, methods=["POST"]),
    Route(f"{_SERVICE}/Verifications/{{sid}}", fetch_verification, methods=["GET"]),
    Route(f"{_SERVICE}/Verifications/{{sid}}", update_verification, methods=["POST"]),
    Route(f"{_SERVICE}/VerificationCheck", verification_check, methods=["POST"]),
    Route(f"{_ACCOUNT}/Messages.json", send_message, methods=["POST"]),
    Route(f"{_ACCOUNT}/Messages/{{message_sid}}.json", fetch_message, methods=["GET"]),
    Route(f"{_ACCOUNT}/Messages/{{message_sid}}/Feedback.json", feedback, methods=["POST"]),
]
