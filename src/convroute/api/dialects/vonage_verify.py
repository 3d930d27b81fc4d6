"""Vonage's Verify v2 (issue 23), as the ``vonage`` package's verify client speaks it with an
API key and secret: ``POST /v2/verify`` (a workflow whose SMS step convroute carries), ``POST
/v2/verify/{request_id}`` (check a code), ``DELETE /v2/verify/{request_id}`` (cancel) and
``POST /v2/verify/{request_id}/next_workflow`` (a new code, over another route), on
convroute's Verify. HTTP Basic ``api_key:api_secret`` (an application's JWT is not taken);
JSON bodies; errors as Vonage's (RFC 7807: ``type``, ``title``, ``detail``, ``instance``).
"""

from __future__ import annotations

from typing import Any

import msgspec
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
    read_json,
)
from convroute.api.problems import HttpProblem
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
from convroute.domain.ids import is_uuid, new_id
from convroute.domain.models import Principal
from convroute.domain.statuses import Dialect, Method
from convroute.domain.verify import DEFAULT_EXPIRY_S, EXPIRY_S, VerificationStatus
from convroute.services.guard import GuardRefusal
from convroute.services.verify import Start, Verifier

_ERRORS = "https://developer.vonage.com/api-errors"


class WorkflowIn(msgspec.Struct):
    """One step of a workflow: only ``sms`` is carried (others are refused)."""

    channel: str
    to: str
    # (Vonage's "from" sender; app_hash, entity_id, content_id are accepted and ignored)
    from_: str | None = msgspec.field(default=None, name="from")
    app_hash: str | None = None
    entity_id: str | None = None
    content_id: str | None = None


class VerifyIn(msgspec.Struct, forbid_unknown_fields=True):
    """Vonage's Verify v2 request."""

    brand: str
    workflow: list[WorkflowIn]
    locale: str | None = None
    channel_timeout: int | None = None
    client_ref: str | None = None
    code_length: int | None = None
    code: str | None = None
    fraud_check: bool | None = None


class CodeIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str


SCHEMAS = (VerifyIn, WorkflowIn, CodeIn)


def _problem(exc: ConvrouteError) -> tuple[int, str, str]:
    """(status, Vonage's error type, title)."""
    if isinstance(exc, HttpProblem):
        return exc.status, f"{_ERRORS}#invalid-params", exc.code.replace("_", " ").title()
    if isinstance(exc, GuardRefusal):
        return 403, f"{_ERRORS}/verify#fraud-check-failed", "Forbidden"
    for kind, status, anchor, title in (
        (ValidationError, 422, "#invalid-params", "Invalid params"),
        (NotFoundError, 404, "#not-found", "Not Found"),
        (AuthenticationError, 401, "#unauthorized", "Unauthorized"),
        (ForbiddenError, 403, "#forbidden", "Forbidden"),
        (RateLimitedError, 429, "#throttled", "Rate Limit Hit"),
        (ConflictError, 409, "/verify#conflict", "Conflict"),
        (StorageError, 503, "#service-unavailable", "Service Unavailable"),
    ):
        if isinstance(exc, kind):
            return status, _ERRORS + anchor, title
    return 500, f"{_ERRORS}#internal-error", "Internal Error"


def render_error(exc: ConvrouteError) -> Response:
    status, kind, title = _problem(exc)
    body: dict[str, Any] = {"type": kind, "title": title, "detail": exc.message,
                            "instance": new_id()}  # fmt: skip
    details = getattr(exc, "details", None)
    if status == 422 and details:
        body["invalid_parameters"] = [{"name": k, "reason": v[0]} for k, v in details.items()]
    headers = {"WWW-Authenticate": 'Basic realm="Vonage"'} if status == 401 else None
    return json_response(body, status, headers)


vonage_verify = guarded(render_error)


class GoneError(HttpProblem):
    """Too many wrong codes: Vonage's 410 (the workflow is over)."""

    def __init__(self, message: str) -> None:
        super().__init__(410, "invalid_code", message)


@authenticator
async def authenticate(request: Request) -> Principal:
    """Basic ``api_key:api_secret`` (how the SDK's verify client sends a key and secret)."""
    given = basic_credentials(request)
    if given is None:
        raise AuthenticationError("authentication required: HTTP Basic with api_key:api_secret")
    return await authenticate_key_secret(request, Dialect.VONAGE, *given)


def _request_id(request: Request) -> str:
    rid: str = request.path_params["request_id"]
    if not is_uuid(rid):
        raise NotFoundError(f"Request '{rid}' was not found or it has been verified already.")
    return rid.lower()


@vonage_verify
async def start(request: Request) -> Response:
    principal = await authenticate(request)
    body = await read_json(request, VerifyIn)
    if not 1 <= len(body.brand) <= 16:
        raise ValidationError.field("brand", "must be 1 to 16 characters")
    sms = [w for w in body.workflow if w.channel == "sms"]
    if not sms or len(body.workflow) != 1:
        raise ValidationError.field("workflow", "must be one sms step (what convroute sends)")
    if body.code is not None:
        raise ValidationError.field("code", "custom codes are not supported")
    step = sms[0]
    verifier = container(request).verifier
    if await verifier.pending_to(principal, step.to) is not None:
        raise ConflictError("Concurrent verifications to the same number are not allowed.")
    expiry = body.channel_timeout or DEFAULT_EXPIRY_S
    v = await verifier.start(
        principal,
        Start(
            to=step.to, locale=body.locale, code_length=body.code_length or 4,
            expiry_s=max(EXPIRY_S[0], expiry), client_ref=body.client_ref,
            template=f"{body.brand}: your verification code is {{code}}",
            sender=(step.from_ or body.brand)[:20],
        ),
    )  # fmt: skip
    return json_response({"request_id": v.id}, 202)


@vonage_verify
async def check(request: Request) -> Response:
    principal = await authenticate(request)
    rid = _request_id(request)
    body = await read_json(request, CodeIn)
    verifier = container(request).verifier
    v = await verifier.read(principal, rid)
    if v.status is VerificationStatus.MAX_ATTEMPTS:
        raise GoneError("Invalid code: the code was given wrong too many times.")
    if v.status is not VerificationStatus.PENDING:
        raise NotFoundError(f"Request '{rid}' was not found or it has been verified already.")
    checked = await verifier.check(principal, rid, body.code, Method.MANUAL)
    if not checked.valid:
        if checked.verification.status is VerificationStatus.MAX_ATTEMPTS:
            raise GoneError("Invalid code: the code was given wrong too many times.")
        raise HttpProblem(
            400, "invalid_code", "The code you provided does not match the expected value."
        )
    return json_response({"request_id": rid, "status": "completed"})


async def _pending(request: Request) -> tuple[Principal, str, Verifier]:
    """The caller, the path's request id and Verify, once the request is known and pending
    (else 404, as Vonage answers for a verified or canceled one)."""
    principal = await authenticate(request)
    rid = _request_id(request)
    verifier = container(request).verifier
    v = await verifier.read(principal, rid)
    if v.status is not VerificationStatus.PENDING:
        raise NotFoundError(f"Request '{rid}' was not found or it has been verified already.")
    return principal, rid, verifier


@vonage_verify
async def cancel(request: Request) -> Response:
    principal, rid, verifier = await _pending(request)
    await verifier.cancel(principal, rid)
    return Response(status_code=204)


@vonage_verify
async def next_workflow(request: Request) -> Response:
    principal, rid, verifier = await _pending(request)
    await verifier.resend(principal, rid)
    return json_response({"request_id": rid})


routes = [
    Route("/v2/verify", start, methods=["POST"]),
    Route("/v2/verify/{request_id}", check, methods=["POST"]),
    Route("/v2/verify/{request_id}", cancel, methods=["DELETE"]),
    Route("/v2/verify/{request_id}/next_workflow", next_workflow, methods=["POST"]),
]
