"""The native API's operator endpoints: routes (CRUD) and route quality, ``/api/v1/routes``.

Routes are the installation's, shared by every account, so these endpoints take the operator's
token (``Authorization: Bearer $CONVROUTE_ADMIN_TOKEN``), never an account's; without a
configured admin token they answer 403. Errors are the native API's.
"""

from __future__ import annotations

import hmac
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as Endpoint

from convroute.api.dialects.native import native
from convroute.api.http import authenticator, bearer_token, container, json_response, read_json
from convroute.domain.clock import format_iso
from convroute.domain.destinations import parse_destination
from convroute.domain.errors import AuthenticationError, ForbiddenError, ValidationError
from convroute.domain.models import Route, RouteDestination
from convroute.services import routes as svc
from convroute.services.quality import quality_query, quality_report

# -- request bodies ---------------------------------------------------------------------------


class DestinationIn(msgspec.Struct, forbid_unknown_fields=True):
    """A destination a route serves: ISO country (or ``*``), optional network, price."""

    country: str
    price: float
    network: str | None = None


class RouteIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new route."""

    name: str
    destinations: list[DestinationIn]
    connector: str = "simulated"
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    enabled: bool = True


class RoutePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a route; absent fields stay as they are. ``destinations`` replaces the list."""

    enabled: bool | None = None
    destinations: list[DestinationIn] | None = None
    connector: str | None = None
    config: dict[str, Any] | None = None


SCHEMAS = (DestinationIn, RouteIn, RoutePatch)


def _destinations(items: list[DestinationIn]) -> list[RouteDestination]:
    return [RouteDestination(d.country, d.price, d.network) for d in items]


@authenticator
async def authenticate_admin(request: Request) -> None:
    """The operator's token, compared in constant time; 403 when none is configured."""
    expected = container(request).settings.admin_token
    if not expected:
        raise ForbiddenError("route administration is off: set CONVROUTE_ADMIN_TOKEN to enable it")
    token = bearer_token(request)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise AuthenticationError("the admin token is not valid")


async def _route(request: Request) -> Route:
    return await run_in_threadpool(container(request).store.route, request.path_params["route"])


# -- endpoints --------------------------------------------------------------------------------


@native
async def list_routes(request: Request) -> Response:
    await authenticate_admin(request)
    c = container(request)
    routes = await run_in_threadpool(c.store.routes)
    states = c.dispatcher.states()
    return json_response({"routes": [_shown(r, states) for r in routes]})


def _shown(route: Route, states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A route with its connection as this instance holds it (null: not connected yet)."""
    return {**svc.route_json(route), "connection": states.get(route.id)}


@native
async def create_route(request: Request) -> Response:
    await authenticate_admin(request)
    body = await read_json(request, RouteIn)
    c = container(request)
    route = svc.new_route(
        body.name,
        _destinations(body.destinations),
        c.clock(),
        body.connector,
        body.config,
        body.enabled,
    )
    await run_in_threadpool(c.store.add_route, route)
    return json_response(svc.route_json(route), 201)


@native
async def get_route(request: Request) -> Response:
    await authenticate_admin(request)
    route = await _route(request)
    return json_response(_shown(route, container(request).dispatcher.states()))


@native
async def patch_route(request: Request) -> Response:
    await authenticate_admin(request)
    body = await read_json(request, RoutePatch)
    route = svc.changed(
        await _route(request),
        enabled=body.enabled,
        destinations=None if body.destinations is None else _destinations(body.destinations),
        connector=body.connector,
        config=body.config,
    )
    await run_in_threadpool(container(request).store.update_route, route)
    return json_response(svc.route_json(route))


@native
async def delete_route(request: Request) -> Response:
    await authenticate_admin(request)
    route = await _route(request)
    await run_in_threadpool(container(request).store.delete_route, route.id)
    return Response(status_code=204)


@native
async def route_quality(request: Request) -> Response:
    await authenticate_admin(request)
    q = request.query_params
    unknown = set(q) - {"country", "network", "type", "traffic_class", "account"}
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationError.field(name, "is not a known parameter")
    dest, message_type, traffic_class = quality_query(
        q.get("country"), q.get("network"), q.get("type"), q.get("traffic_class")
    )
    c = container(request)
    account = None
    if "account" in q:
        account = await run_in_threadpool(c.store.account_by_name, q["account"])
        if account is None:
            raise ValidationError.field("account", f"names no account: {q['account']!r}")
    report = await run_in_threadpool(
        quality_report,
        c.store,
        c.reads,
        c.clock(),
        dest,
        message_type,
        traffic_class,
        c.dispatcher.states(),
        account,
    )
    return json_response(report.as_json())


@native
async def simulated_handset(request: Request) -> Response:
    """What the simulated routes delivered to a number (the demo's phones), in this server
    process: where the routes are simulated, how an operator reads a Verify code."""
    await authenticate_admin(request)
    c = container(request)
    number = parse_destination(request.path_params["number"], "number").e164
    texts = c.dispatcher.handsets.read(number, c.clock())
    return json_response(
        {
            "number": number,
            "messages": [
                {"message_id": m, "route": r, "text": text, "received_at": format_iso(at)}
                for at, m, r, text in texts
            ],
        }
    )


routes = [
    Endpoint("/api/v1/routes", list_routes, methods=["GET"]),
    Endpoint("/api/v1/routes", create_route, methods=["POST"]),
    Endpoint("/api/v1/routes/quality", route_quality, methods=["GET"]),
    Endpoint("/api/v1/routes/{route}", get_route, methods=["GET"]),
    Endpoint("/api/v1/routes/{route}", patch_route, methods=["PATCH"]),
    Endpoint("/api/v1/routes/{route}", delete_route, methods=["DELETE"]),
    Endpoint("/api/v1/simulated/handsets/{number}", simulated_handset, methods=["GET"]),
]
