"""Every operation the app serves, as the OpenAPI document describes it (``openapi.py``
renders them): path, summary, request body, success and error answers. A test checks that
every route of the app is here and nothing else is."""

from __future__ import annotations

from convroute.api.operation import Operation
from convroute.api.operations_dialects import DIALECT_OPERATIONS
from convroute.api.operations_verify import (
    DIALECT_VERIFY_OPERATIONS,
    INSIGHT_QUERY,
    VERIFY_OPERATIONS,
)
from convroute.storage.views import STATS_DIMENSIONS

_ADMIN = (401, 403)
_ROUTE_OPERATIONS = (
    Operation(
        "get",
        "/api/v1/routes",
        "Every route (operator token)",
        "routes",
        errors=_ADMIN,
        ok_schema="Routes",
    ),
    Operation(
        "post",
        "/api/v1/routes",
        "Add a route: destinations with prices, connector and its config (operator token)",
        "routes",
        "RouteIn",
        201,
        (*_ADMIN, 409, 413, 415, 422),
        ok_schema="Route",
    ),
    Operation(
        "get",
        "/api/v1/routes/quality",
        "Per candidate route for a destination: recent conversion and receipt rates, the "
        "router's estimate, share of traffic and why, whether its receipts diverge from its "
        "conversions; the anomalies the router raised for it in the last day: SMS pumping, a "
        "route's conversion drop, receipts that diverge, a route without receipts (operator "
        "token)",
        "routes",
        errors=(*_ADMIN, 422),
        ok_schema="RouteQuality",
        query=(
            ("country", "Required: ISO 3166 alpha-2"),
            ("network", "Network name, as phonenumbers names it"),
            ("type", "otp (default), url, promo_code or other"),
            ("traffic_class", "2fa (default) or other"),
            ("account", "An account (name or id): shares and values as its messages get them"),
        ),
    ),
    Operation(
        "get",
        "/api/v1/evaluations",
        "Offline policy evaluation: what a policy, or the policy with other settings, would "
        "have converted (and its value under an objective) on the logged traffic of a period: "
        "IPS, self-normalised IPS and doubly robust estimates with 95 % intervals, the "
        "logging policy's own figure, the effective sample size and the support the log "
        "gives the candidate's choices (operator token)",
        "routes",
        errors=(*_ADMIN, 422),
        ok_schema="Evaluation",
        query=(
            ("policy", "Required: convroute, epsilon-greedy, dlr-only, failover, static, ..."),
            ("setting", "KEY=NUMBER, repeatable: e.g. explore=0.05 for convroute"),
            ("since", "ISO 8601, or 30m, 24h, 7d ago (default 7d)"),
            ("until", "ISO 8601, or 30m, 24h, 7d ago (default now)"),
            ("country", "Only this destination country's traffic (ISO 3166 alpha-2)"),
            ("goal", "conversions, value or cheapest-within (default: the installation's)"),
            ("lambda", "With goal value: value per currency unit"),
            ("epsilon", "With goal cheapest-within"),
            (
                "replay",
                "coupled (default: the policy learns from choices of its own, coupled to the "
                "logged ones) or logged (from the logged decisions alone)",
            ),
        ),
    ),
    Operation(
        "get",
        "/api/v1/routes/{route}",
        "A route by name or id",
        "routes",
        errors=(*_ADMIN, 404),
        ok_schema="Route",
    ),
    Operation(
        "patch",
        "/api/v1/routes/{route}",
        "Enable or disable a route, replace its destinations and prices, connector or config",
        "routes",
        "RoutePatch",
        errors=(*_ADMIN, 404, 413, 415, 422),
        ok_schema="Route",
    ),
    Operation(
        "delete",
        "/api/v1/routes/{route}",
        "Delete a route that never carried a message (409 otherwise: disable it instead)",
        "routes",
        ok=204,
        errors=(*_ADMIN, 404, 409),
    ),
)

_ACCOUNT_OPERATIONS = (
    Operation(
        "get",
        "/api/v1/accounts",
        "Every account (operator token)",
        "accounts",
        errors=_ADMIN,
        ok_schema="Accounts",
    ),
    Operation(
        "get",
        "/api/v1/accounts/{account}",
        "An account by name or id, with its credentials (no secrets; operator token)",
        "accounts",
        errors=(*_ADMIN, 404),
        ok_schema="Account",
    ),
    Operation(
        "patch",
        "/api/v1/accounts/{account}",
        "Set an account's request rate (null: the default), conversion reporting or routing "
        "(its objective and routes; null: the installation's)",
        "accounts",
        "AccountPatch",
        errors=(*_ADMIN, 404, 413, 415, 422),
        ok_schema="Account",
    ),
    Operation(
        "post",
        "/api/v1/accounts/{account}/credentials/{credential}/revoke",
        "Revoke a credential now (401 on every instance within a second)",
        "accounts",
        errors=(*_ADMIN, 404),
        ok_schema="Revoked",
    ),
    Operation(
        "post",
        "/api/v1/accounts/{account}/credentials/{credential}/rotate",
        "Issue a replacement credential; the old one stops after overlap_seconds",
        "accounts",
        "RotationIn",
        201,
        (*_ADMIN, 404, 413, 415, 422),
        ok_schema="Rotated",
    ),
)

OPERATIONS = (
    *_ROUTE_OPERATIONS,
    *_ACCOUNT_OPERATIONS,
    Operation(
        "get",
        "/api/v1/account",
        "Who the token belongs to",
        "native",
        errors=(401,),
        ok_schema="Whoami",
    ),
    Operation(
        "post",
        "/api/v1/messages",
        "Send a message (routed; returns its id and route)",
        "native",
        "MessageIn",
        201,
        (400, 401, 413, 415, 422, 503),
        ok_schema="MessageSent",
    ),
    Operation(
        "get",
        "/api/v1/messages/{message_id}",
        "A message with its conversion events and DLRs",
        "native",
        errors=(401, 404),
        ok_schema="Message",
    ),
    Operation(
        "post",
        "/api/v1/messages/{message_id}/conversions",
        "Report a conversion (idempotent: an identical report answers 200 with the first one's id)",
        "native",
        "ConversionIn",
        201,
        (400, 401, 403, 404, 413, 415, 422, 503),
        ok_schema="ConversionRecorded",
        also=((200, "ConversionRecorded"),),  # an identical report again: the first one's
    ),
    Operation(
        "post",
        "/api/v1/messages/{message_id}/dlr",
        "Record a delivery receipt",
        "native",
        "DlrIn",
        201,
        (400, 401, 404, 413, 415, 422, 503),
        ok_schema="DlrRecorded",
    ),
    Operation(
        "get",
        "/api/v1/stats/conversions",
        "Conversion counts and rates per group",
        "native",
        errors=(401, 422),
        ok_schema="ConversionStats",
        query=(
            ("group_by", "comma-separated: " + ", ".join(STATS_DIMENSIONS)),
            ("from", "ISO 8601: messages sent at or after"),
            ("to", "ISO 8601: messages sent before"),
        ),
    ),
    *VERIFY_OPERATIONS,
    Operation(
        "get",
        "/api/v1/simulated/handsets/{number}",
        "Operator: what the simulated routes delivered to a number, in this server process "
        "(the demo's phones: where the routes are simulated, where a Verify code shows up)",
        "routes",
        errors=(401, 403, 404, 422),
        ok_schema="Handset",
    ),
    Operation(
        "get",
        "/api/v1/account/routing",
        "The account's own routing: the objective its sends are valued by (goal null: the "
        "installation's) and the routes they may take",
        "native",
        errors=(401,),
        ok_schema="AccountRouting",
    ),
    Operation(
        "put",
        "/api/v1/account/routing",
        "Set the account's routing, whole: goal conversions, value (lambda: value per "
        "currency unit) or cheapest-within (epsilon: the conversion-rate loss tolerated), or "
        "null; routes allowed (none: all) and forbidden, by name or id",
        "native",
        "RoutingIn",
        errors=(401, 413, 415, 422),
        ok_schema="AccountRouting",
    ),
    Operation(
        "get",
        "/api/v1/windows",
        "The account's conversion windows, in seconds",
        "native",
        errors=(401,),
        ok_schema="Windows",
    ),
    Operation(
        "put",
        "/api/v1/windows/{type}",
        "Set the conversion window of a message type",
        "native",
        "WindowIn",
        errors=(401, 404, 413, 415, 422),
        ok_schema="Windows",
    ),
    Operation(
        "delete",
        "/api/v1/windows/{type}",
        "Reset a message type's window to the default",
        "native",
        errors=(401, 404),
        ok_schema="Windows",
    ),
    *DIALECT_OPERATIONS,
    *DIALECT_VERIFY_OPERATIONS,
    Operation(
        "get",
        "/dashboard",
        "The operator's dashboard (a page; it signs in with a token and reads the two below)",
        "dashboard",
        errors=(),
        security=None,
        ok_media="text/html",
    ),
    Operation(
        "get",
        "/api/v1/dashboard/series",
        "Per route, messages and outcomes in time buckets for one destination and traffic; "
        "for the operator also each route's share, estimate, reason and the anomalies",
        "dashboard",
        errors=(401, 403, 422),
        ok_schema="DashboardSeries",
        query=(
            ("country", "Required: ISO 3166 alpha-2"),
            ("network", "A network of the country (default: all)"),
            ("type", "otp (default), url, promo_code or other"),
            ("traffic_class", "2fa (default) or other"),
            ("hours", "The range, ending now: 0.01 to 168 (default 24)"),
            ("bucket_minutes", "The bucket: 0.05 to 60 (default 5)"),
        ),
    ),
    Operation(
        "get",
        "/api/v1/dashboard/verifications",
        "Verify Insights for the dashboard (the operator: every account; an account: its own)",
        "dashboard",
        errors=(401, 403, 422),
        ok_schema="VerifyInsights",
        query=INSIGHT_QUERY,
    ),
    Operation(
        "get",
        "/api/v1/dashboard/totals",
        "Messages, conversions, conversion rate, cost and cost per conversion by route and by "
        "country over the range",
        "dashboard",
        errors=(401, 403, 422),
        ok_schema="DashboardTotals",
        query=(
            ("hours", "The range, ending now: 0.01 to 168 (default 24)"),
            ("bucket_minutes", "Rounds the range's end up to a bucket: 0.05 to 60 (default 5)"),
        ),
    ),
    *(
        Operation(
            method,
            "/callbacks/{route_id}",
            "A provider route's status callback (Plivo, Vonage, Twilio or Bird, in the "
            "provider's own format, signed as it signs: see docs/routing.md, Connectors)",
            "callbacks",
            errors=(400, 401, 404, 413),
            security=None,
            ok_media="text/plain",
        )
        for method in ("get", "post")
    ),
    Operation(
        "get",
        "/healthz",
        "Liveness: the process answers (ok)",
        "operations",
        errors=(),
        security=None,
        ok_media="text/plain",
    ),
    Operation(
        "get",
        "/readyz",
        "Readiness: the database answers (ready)",
        "operations",
        errors=(503,),
        security=None,
        ok_media="text/plain",
    ),
    Operation(
        "get",
        "/metrics",
        "Prometheus metrics (the text exposition format)",
        "operations",
        errors=(),
        security=None,
        ok_media="text/plain",
    ),
    Operation(
        "get",
        "/openapi.json",
        "This document (OpenAPI 3.1)",
        "operations",
        errors=(),
        security=None,
        ok_media="application/json",
    ),
    Operation(
        "get",
        "/docs",
        "This document, rendered (ReDoc)",
        "operations",
        errors=(),
        security=None,
        ok_media="text/html",
    ),
)
