"""Providers' status callbacks: ``GET|POST /callbacks/{route_id}``, one URL per provider
route, in the provider's own format (``connectors/providers``).

A callback is authenticated as its provider signs it, with the route's secret (Plivo's
``X-Plivo-Signature-V3``, Twilio's ``X-Twilio-Signature``, Vonage's signed webhooks, Bird's
``messagebird-signature``); an unsigned or forged one is refused (401) and changes nothing,
as does a replay of one already recorded. The message is found by our id where the provider
echoes it (and only if it was routed over this route), else by the provider's id. A final
status becomes a DLR of the message's account, answered 200 once it is durable (the provider
retries anything else); a status on the way (queued, sent ...) is acknowledged and not kept.
The signed URL is the one the provider called: the route's ``callback_url``, else
``CONVROUTE_PUBLIC_URL`` and the path, else the request's own URL.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route as Path

from convroute.api.dialects.native import native
from convroute.api.http import container, media_type, parse_form, read_body
from convroute.api.problems import HttpProblem
from convroute.bootstrap import Container
from convroute.connectors.base import eventually
from convroute.connectors.providers.base import Callback, CallbackRefused, StatusReport
from convroute.connectors.providers.connector import PROVIDERS
from convroute.domain.errors import NotFoundError
from convroute.domain.models import Route

FORM = "application/x-www-form-urlencoded"


def signed_url(request: Request, route: Route, public_url: str | None) -> str:
    """The URL the provider called, as it signed it."""
    configured = route.config.get("callback_url")
    if configured:
        base = str(configured).split("?", 1)[0]
    elif public_url:
        base = public_url.rstrip("/") + request.url.path
    else:
        base = str(request.url.replace(query=""))
    query = request.url.query
    return f"{base}?{query}" if query else base


def _form(request: Request, body: bytes) -> dict[str, str]:
    if not body or media_type(request) != FORM:
        return {}
    try:
        return dict(parse_form(body.decode()))
    except (UnicodeDecodeError, ValueError):
        raise HttpProblem(400, "bad_callback", "the body is not a valid form") from None


async def _owner(c: Container, route_id: str, report: StatusReport) -> tuple[str, str] | None:
    """(message id, account id) of the message the callback is about."""
    if report.reference:
        account = await asyncio.to_thread(c.store.account_on_route, report.reference, route_id)
        if account is not None:
            return report.reference, account
    upstream = report.upstream_id
    if not upstream:
        return None
    return await eventually(
        lambda: asyncio.to_thread(c.store.message_of_upstream, route_id, upstream)
    )


@native
async def status_callback(request: Request) -> Response:
    c = container(request)
    route_id = request.path_params["route_id"]
    route = await c.dispatcher.route(route_id)
    if route is None or route.connector not in PROVIDERS:
        raise NotFoundError(f"no provider route {route_id}")
    provider = PROVIDERS[route.connector]
    body = await read_body(request)
    callback = Callback(
        request.method,
        signed_url(request, route, c.dispatcher.public_url),
        {k.lower(): v for k, v in request.headers.items()},
        dict(request.query_params),
        _form(request, body),
        body,
    )
    try:
        nonce = provider.verify(route.config, callback, c.clock())
        report = provider.report(callback)
    except CallbackRefused as exc:
        raise HttpProblem(exc.status, exc.code, exc.message) from None
    if report.status is None:
        return PlainTextResponse("")  # on its way: the final status follows
    owner = await _owner(c, route.id, report)
    if owner is None:
        raise NotFoundError(f"no message {report.reference or report.upstream_id} on this route")
    await c.dispatcher.record(
        owner[0],
        owner[1],
        report.status,
        report.error_code[:32] if report.error_code else None,
        raw=body.decode(errors="replace")[:10_000],
        nonce=nonce,
    )
    return PlainTextResponse("")


routes = [Path("/callbacks/{route_id}", status_callback, methods=["GET", "POST"])]
