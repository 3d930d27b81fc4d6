"""Verify in the native API (issue 23), ``/api/v1/verifications``: convroute generates the
code, sends it over the route the router picks and checks it; each outcome is a conversion
event of the message (``services/verify.py``). The account's fraud guard is
``/api/v1/account/verify-guard``. Bearer-token auth and errors as the rest of ``/api/v1``;
the code is never returned, logged or stored in clear.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as Endpoint

from convroute.api.dialects.native import authenticate, grouped_range, native
from convroute.api.http import (
    container,
    decode_json,
    json_response,
    media_type,
    read_body,
    read_json,
)
from convroute.api.problems import unsupported_media_type
from convroute.domain.clock import format_iso
from convroute.domain.errors import ValidationError
from convroute.domain.statuses import Method
from convroute.domain.verify import (
    DEFAULT_ATTEMPTS,
    DEFAULT_CODE_LENGTH,
    DEFAULT_EXPIRY_S,
    DEFAULT_SENDER,
    Verification,
)
from convroute.services.guard import policy_of
from convroute.services.messaging import MAX_SENDER_LENGTH
from convroute.services.verify import Start
from convroute.storage.verify_insights import DIMENSIONS, insights


class VerificationIn(msgspec.Struct, forbid_unknown_fields=True):
    """Start a verification of ``to`` (E.164, with or without ``+``). ``template`` must hold
    ``{code}`` and may hold ``{minutes}``; without it, the locale's message is sent."""

    to: str
    channel: str = "sms"
    locale: str | None = None
    code_length: int = DEFAULT_CODE_LENGTH
    expiry_seconds: int = DEFAULT_EXPIRY_S
    max_attempts: int = DEFAULT_ATTEMPTS
    template: str | None = None
    sender: str = DEFAULT_SENDER
    client_ref: str | None = None


class CheckIn(msgspec.Struct, forbid_unknown_fields=True):
    """Check a code the user typed (``auto`` when read from the SMS by the app)."""

    code: str
    method: Method = Method.MANUAL


class ResendIn(msgspec.Struct, forbid_unknown_fields=True):
    """Send a new code (the earlier one stops being valid)."""

    template: str | None = None
    sender: str = DEFAULT_SENDER


class GuardIn(msgspec.Struct, forbid_unknown_fields=True):
    """The account's fraud guard: countries (ISO 3166 alpha-2) allowed (none listed: all),
    blocked and monitored, and ``pumping``: ``block`` holds verifications to a destination
    while its pumping episode is in progress, ``monitor`` sends and counts them."""

    allowed_countries: list[str] = msgspec.field(default_factory=list)
    blocked_countries: list[str] = msgspec.field(default_factory=list)
    monitored_countries: list[str] = msgspec.field(default_factory=list)
    pumping: str = "block"


SCHEMAS = (VerificationIn, CheckIn, ResendIn, GuardIn)


def view(v: Verification) -> dict[str, Any]:
    """A verification as the API shows it (never its code)."""
    return {
        "id": v.id,
        "to": v.to,
        "channel": v.channel,
        "status": v.status.value,
        "country": v.country,
        "network": v.network,
        "locale": v.locale,
        "code_length": v.code_length,
        "attempts": v.attempts,
        "attempts_left": v.attempts_left,
        "sends": v.sends,
        "message_id": v.message_id,
        "route_id": v.route_id,
        "client_ref": v.client_ref,
        "created_at": format_iso(v.created_ms),
        "expires_at": format_iso(v.expires_ms),
        "updated_at": format_iso(v.updated_ms),
    }


def _sender(sender: str) -> str:
    if not sender.strip() or len(sender) > MAX_SENDER_LENGTH:
        raise ValidationError.field("sender", f"must be 1 to {MAX_SENDER_LENGTH} characters")
    return sender


@native
async def start(request: Request) -> Response:
    principal = await authenticate(request)
    body = await read_json(request, VerificationIn)
    v = await container(request).verifier.start(
        principal,
        Start(
            to=body.to, channel=body.channel, locale=body.locale, code_length=body.code_length,
            expiry_s=body.expiry_seconds, max_attempts=body.max_attempts, template=body.template,
            sender=_sender(body.sender), client_ref=body.client_ref,
        ),
    )  # fmt: skip
    return json_response(view(v), 201)


@native
async def get(request: Request) -> Response:
    principal = await authenticate(request)
    v = await container(request).verifier.read(principal, request.path_params["id"])
    return json_response(view(v))


@native
async def check(request: Request) -> Response:
    principal = await authenticate(request)
    body = await read_json(request, CheckIn)
    checked = await container(request).verifier.check(
        principal, request.path_params["id"], body.code, body.method
    )
    return json_response({**view(checked.verification), "valid": checked.valid})


@native
async def resend(request: Request) -> Response:
    principal = await authenticate(request)
    raw = await read_body(request)  # (optional: none is the defaults)
    body = ResendIn()
    if raw:
        if media_type(request) != "application/json":
            raise unsupported_media_type("application/json", request.headers.get("content-type"))
        body = decode_json(raw, ResendIn)
    v = await container(request).verifier.resend(
        principal, request.path_params["id"], body.template, _sender(body.sender)
    )
    return json_response(view(v))


@native
async def cancel(request: Request) -> Response:
    principal = await authenticate(request)
    v = await container(request).verifier.cancel(principal, request.path_params["id"])
    return json_response(view(v))


PERIODS = {"hour": 3_600_000, "day": 86_400_000}
MAX_INSIGHT_SPAN_MS = 92 * 86_400_000


async def insights_of(request: Request, account_id: str | None) -> dict[str, Any]:
    """Verify Insights for one account (or, for the operator, all): ``group_by`` among
    country, network, route, channel; ``from``/``to`` (default: the last 24 hours; at most 92
    days); ``interval`` hour or day for a series."""
    group_by, from_ms, to_ms = grouped_range(request, DIMENSIONS, frozenset({"interval"}))
    c = container(request)
    now = c.clock()
    to_ms = now if to_ms is None else to_ms
    from_ms = to_ms - 86_400_000 if from_ms is None else from_ms
    if from_ms >= to_ms:
        raise ValidationError.field("from", "must be before to")
    if to_ms - from_ms > MAX_INSIGHT_SPAN_MS:
        raise ValidationError.field("from", "the range may span at most 92 days")
    interval = request.query_params.get("interval")
    if interval is not None and interval not in PERIODS:
        raise ValidationError.field("interval", "must be hour or day")
    period = None if interval is None else PERIODS[interval]
    found = await run_in_threadpool(
        c.store.read,
        lambda conn: insights(conn, account_id, group_by, from_ms, to_ms, now, period),
    )
    for group in found["groups"]:
        if "period_ms" in group:
            group["period"] = format_iso(group.pop("period_ms"))
    return {
        "group_by": group_by,
        "interval": interval,
        "from": format_iso(from_ms),
        "to": format_iso(to_ms),
        **found,
    }


@native
async def verify_insights(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response(await insights_of(request, principal.account_id))


@native
async def get_guard(request: Request) -> Response:
    principal = await authenticate(request)
    store = container(request).verifier.store
    policy = await run_in_threadpool(store.guard, principal.account_id)
    return json_response(policy.to_json())


@native
async def put_guard(request: Request) -> Response:
    principal = await authenticate(request)
    body = await read_json(request, GuardIn)
    policy = policy_of(msgspec.to_builtins(body))
    c = container(request)
    await run_in_threadpool(c.verifier.store.set_guard, principal.account_id, policy, c.clock())
    return json_response(policy.to_json())


routes = [
    Endpoint("/api/v1/verifications", start, methods=["POST"]),
    # (before the next: "insights" is no verification id)
    Endpoint("/api/v1/verifications/insights", verify_insights, methods=["GET"]),
    Endpoint("/api/v1/verifications/{id}", get, methods=["GET"]),
    Endpoint("/api/v1/verifications/{id}/check", check, methods=["POST"]),
    Endpoint("/api/v1/verifications/{id}/resend", resend, methods=["POST"]),
    Endpoint("/api/v1/verifications/{id}/cancel", cancel, methods=["POST"]),
    Endpoint("/api/v1/account/verify-guard", get_guard, methods=["GET"]),
    Endpoint("/api/v1/account/verify-guard", put_guard, methods=["PUT"]),
]
