"""An account's own routing (issue 22): the objective its sends are valued by and the routes
they may take, ``/api/v1/account/routing``, with the account's own native token; the
operator sets the same through ``PATCH /api/v1/accounts/{account}`` (``routing``).

A change takes effect on the account's next send on this instance at once, and on every
other instance within ``CONVROUTE_AUTH_REFRESH_SECONDS`` (the account's row changed, which
the authentication caches watch). Errors are the native API's.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as Endpoint

from convroute.api.dialects.native import authenticate, native
from convroute.api.http import container, json_response, read_json
from convroute.domain.errors import NotFoundError
from convroute.domain.models import AccountRouting, Route
from convroute.services.objectives import check_routing, routing_json


class RoutingIn(msgspec.Struct, forbid_unknown_fields=True, rename={"lam": "lambda"}):
    """An account's routing, whole: ``goal`` null keeps the installation's objective;
    ``allow_routes`` empty allows every route; routes by name or id."""

    goal: str | None = None
    lam: float | None = None
    epsilon: float | None = None
    allow_routes: list[str] = msgspec.field(default_factory=list)
    forbid_routes: list[str] = msgspec.field(default_factory=list)


SCHEMAS = (RoutingIn,)


def routing_of(routes: Sequence[Route], body: RoutingIn) -> AccountRouting:
    """``body`` validated against ``routes``, the routes that exist."""
    return check_routing(
        routes, body.goal, body.lam, body.epsilon, body.allow_routes, body.forbid_routes
    )


async def checked(request: Request, body: RoutingIn) -> AccountRouting:
    """``body`` validated against the routes that exist."""
    return routing_of(await run_in_threadpool(container(request).store.routes), body)


@native
async def get_routing(request: Request) -> Response:
    principal = await authenticate(request)
    store = container(request).store
    account = await run_in_threadpool(store.account_by_name, principal.account_id)
    if account is None:  # (deleted since it authenticated)
        raise NotFoundError("the account is gone")
    routes = await run_in_threadpool(store.routes)
    return json_response(routing_json(account.routing, routes))


@native
async def put_routing(request: Request) -> Response:
    principal = await authenticate(request)
    body = await read_json(request, RoutingIn)
    c = container(request)
    routes = await run_in_threadpool(c.store.routes)
    routing = routing_of(routes, body)
    await run_in_threadpool(c.store.set_routing, principal.account_id, routing, c.clock())
    c.auth.clear()
    return json_response(routing_json(routing, routes))


routes = [
    Endpoint("/api/v1/account/routing", get_routing, methods=["GET"]),
    Endpoint("/api/v1/account/routing", put_routing, methods=["PUT"]),
]
