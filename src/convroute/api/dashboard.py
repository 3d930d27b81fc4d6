"""The operator's dashboard: the page (``/dashboard``, its assets in ``api/static/``) and the
JSON it draws, in the native API (``/api/v1/dashboard/series``, ``/api/v1/dashboard/totals``),
which the CLI can read too.

Signed in with the operator token, it shows every account's traffic and what the router
believes (each route's current share, estimate and reason, the anomalies raised); with an
account's native token, that account's own traffic only (the router's beliefs are built from
every account's traffic, so they are the operator's)."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount
from starlette.routing import Route as Endpoint
from starlette.staticfiles import StaticFiles

from convroute.api.dialects.native import native
from convroute.api.dialects.native_verify import insights_of
from convroute.api.http import (
    authenticator,
    bearer_token,
    container,
    find_credential,
    json_response,
)
from convroute.bootstrap import Container
from convroute.domain.clock import format_iso
from convroute.domain.destinations import Destination
from convroute.domain.errors import ValidationError
from convroute.domain.models import Principal
from convroute.domain.statuses import Dialect, MessageType, TrafficClass
from convroute.services.auth import bearer_key_id, principal_of
from convroute.services.quality import quality_query, quality_report
from convroute.services.router import traffic_of
from convroute.services.totals import totals_report

STATIC = Path(__file__).parent / "static"
MAX_BUCKETS = 2016  # a week of 5-minute buckets


@authenticator
async def viewer(request: Request) -> Principal | None:
    """None for the operator (``CONVROUTE_ADMIN_TOKEN``); else the account of a native
    token, whose own traffic only is shown."""
    token = bearer_token(request)
    expected = container(request).settings.admin_token
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return None
    found = await find_credential(request, Dialect.NATIVE, bearer_key_id(token))
    return principal_of(found, None)


def _number(request: Request, name: str, default: float, low: float, high: float) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError.field(name, "must be a number") from None
    if not low <= value <= high:
        raise ValidationError.field(name, f"must be from {low:g} to {high:g}")
    return value


def _range(request: Request, now: int) -> tuple[int, int, int]:
    hours = _number(request, "hours", 24, 0.01, 24 * 7)
    bucket_ms = int(_number(request, "bucket_minutes", 5, 0.05, 60) * 60_000)
    span = int(hours * 3_600_000)
    if span // bucket_ms > MAX_BUCKETS:
        raise ValidationError.field("bucket_minutes", f"gives more than {MAX_BUCKETS} buckets")
    to_ms = (now // bucket_ms + 1) * bucket_ms  # the bucket now is in, whole
    return to_ms - span, to_ms, bucket_ms


def _known(request: Request, names: set[str]) -> None:
    unknown = set(request.query_params) - names
    if unknown:
        raise ValidationError.field(sorted(unknown)[0], "is not a known parameter")


@native
async def series(request: Request) -> Response:
    principal = await viewer(request)
    _known(request, {"country", "network", "type", "traffic_class", "hours", "bucket_minutes"})
    q = request.query_params
    dest, kind, klass = quality_query(
        q.get("country"), q.get("network"), q.get("type"), q.get("traffic_class")
    )
    c = container(request)
    now = c.clock()
    from_ms, to_ms, bucket_ms = _range(request, now)
    account = None if principal is None else principal.account_id
    traffic = traffic_of(kind, klass)
    found = await run_in_threadpool(
        c.store.route_series, dest.country, dest.network, traffic, from_ms, to_ms, bucket_ms,
        account,
    )  # fmt: skip
    routes = {r.id: r for r in await run_in_threadpool(c.store.routes)}
    body: dict[str, Any] = {
        "scope": "operator" if principal is None else "account",
        "context": {"country": dest.country, "network": dest.network, "traffic": traffic},
        "from": format_iso(from_ms),
        "to": format_iso(to_ms),
        "bucket_ms": bucket_ms,
        "times": list(range(from_ms, to_ms, bucket_ms)),
        "routes": [
            {
                "id": s.route_id,
                "name": routes[s.route_id].name if s.route_id in routes else s.route_id,
                "price": routes[s.route_id].price_for(dest) if s.route_id in routes else None,
                "series": s.counts,
            }
            for s in found
        ],
    }
    if principal is None:  # what the router believes, beside what was measured
        report, anomalies = await run_in_threadpool(_beliefs, c, now, dest, kind, klass)
        body["router_context"] = report["context"]
        believed = {r["id"]: r for r in report["routes"]}
        for entry in body["routes"]:
            entry["router"] = believed.pop(entry["id"], None)
        for r in believed.values():  # candidates without traffic in the range
            body["routes"].append({"id": r["id"], "name": r["name"], "price": r["price"],
                                   "series": None, "router": r})  # fmt: skip
        body["networks_seen"] = report["networks_seen"]
        body["anomalies"] = anomalies
        body["policy"] = report["policy"]
    return json_response(body)


def _beliefs(
    c: Container, now: int, dest: Destination, kind: MessageType, klass: TrafficClass
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The router's view of the destination (its quality report) and the anomalies raised
    for it. The router learns per network where a number's network is known: for a country
    without a network asked for, its view of the country's busiest network, and the
    anomalies of every network."""
    states = c.dispatcher.states()
    report = quality_report(c.store, c.reads, now, dest, kind, klass, states).as_json()
    if dest.network is not None or not report["networks_seen"]:
        return report, report["anomalies"]
    anomalies = list(report["anomalies"])
    busiest: tuple[int, dict[str, Any]] | None = None
    for network in report["networks_seen"]:
        one = Destination("", dest.country, network)
        seen = quality_report(c.store, c.reads, now, one, kind, klass, states).as_json()
        anomalies += seen["anomalies"]
        messages = sum(r["recent"]["24h"]["sent"] for r in seen["routes"])
        if busiest is None or messages > busiest[0]:
            busiest = (messages, seen)
    assert busiest is not None
    chosen = {**busiest[1], "networks_seen": report["networks_seen"]}
    anomalies.sort(key=lambda a: (not a["active"], a["started_at"]))
    return chosen, anomalies


@native
async def totals(request: Request) -> Response:
    principal = await viewer(request)
    _known(request, {"hours", "bucket_minutes"})
    c = container(request)
    from_ms, to_ms, _ = _range(request, c.clock())
    account = None if principal is None else principal.account_id
    rows = await run_in_threadpool(c.store.totals, from_ms, to_ms, account)
    routes = await run_in_threadpool(c.store.routes)
    return json_response(
        {
            "scope": "operator" if principal is None else "account",
            "from": format_iso(from_ms),
            "to": format_iso(to_ms),
            **totals_report(rows, routes),
        }
    )


@native
async def verifications(request: Request) -> Response:
    """Verify Insights for the dashboard: the operator's over every account, an account's
    over its own; by country and by route, and what the fraud guard refused."""
    principal = await viewer(request)
    account = None if principal is None else principal.account_id
    return json_response(
        {
            "scope": "operator" if principal is None else "account",
            **await insights_of(request, account),
        }
    )


# The pages load nothing from elsewhere (they work offline, and a viewer's own outbound
# fetches, such as ReDoc's logo, are refused by the browser).
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)


def static_page(name: str) -> Response:
    """One of the package's HTML pages, with the policy above."""
    response = FileResponse(STATIC / name, media_type="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def page(request: Request) -> Response:
    """The page itself asks for nothing: it signs in and reads the JSON above."""
    return static_page("dashboard.html")


routes = [
    Endpoint("/dashboard", page, methods=["GET"]),
    Endpoint("/api/v1/dashboard/series", series, methods=["GET"]),
    Endpoint("/api/v1/dashboard/totals", totals, methods=["GET"]),
    Endpoint("/api/v1/dashboard/verifications", verifications, methods=["GET"]),
]

static = Mount("/static", StaticFiles(directory=STATIC), name="static")
