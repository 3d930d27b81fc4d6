"""Every operation the app serves, as the OpenAPI document describes it (``openapi.py``
renders them): path, summary, request body, success and error answers. A test checks that
every route of the app is here and nothing else is."""

from __future__ import annotations

from dataclasses import dataclass

from convroute.api.dialects import bird, plivo, plivo_messages
from convroute.storage.views import STATS_DIMENSIONS


@dataclass(frozen=True)
class Operation:
    """One documented operation. ``aliases`` are other spellings of the same path (served,
    and documented as such); ``error`` names the error body's schema in components."""

    method: str
    path: str
    summary: str
    tag: str
    body: str | None = None
    ok: int = 200
    errors: tuple[int, ...] = (401, 404, 422)
    security: str | None = "bearer"
    query: tuple[tuple[str, str], ...] = ()
    aliases: tuple[str, ...] = ()
    error: str = "Error"
    body_media: str = "application/json"
    ok_media: str | None = None
    ok_schema: str | None = None  # the success body's schema (components), if it has one
    also: tuple[tuple[int, str], ...] = ()  # other success answers: (status, schema)


_PLIVO_ERRORS = (400, 401, 403, 404, 413, 415, 503)
_VONAGE_CONVERSION_QUERY = (
    ("api_key", "Your API key (with api_secret, or with sig)"),
    ("api_secret", "Your API secret"),
    ("sig", "Signature of the parameters (see docs/api.md)"),
    ("message-id", "Required: the message-id returned when the message was sent"),
    ("delivered", "Required: true, false, 1 or 0"),
    ("timestamp", "yyyy-MM-dd HH:mm:ss UTC, or Unix seconds (default: now)"),
)
_VONAGE_SEND_QUERY = (
    ("api_key", "Your API key (with api_secret, or with sig)"),
    ("api_secret", "Your API secret"),
    ("sig", "Signature of the parameters (see docs/api.md)"),
    ("from", "Required: sender id"),
    ("to", "Required: E.164 destination"),
    ("text", "Required: message text"),
    ("type", "text (default) or unicode"),
    ("client-ref", "Your reference, echoed back (at most 100 characters)"),
    ("timestamp", "Unix seconds; required when signing"),
)

_ADMIN = (401, 403)
_INSIGHT_QUERY = (
    ("group_by", "Comma-separated: country, network, route, channel"),
    ("from", "ISO 8601: verifications started at or after (default: 24 hours before to)"),
    ("to", "ISO 8601: started before (default: now); the range at most 92 days"),
    ("interval", "hour or day: a series, one group per period"),
)
_TWILIO_ERRORS = (400, 401, 404, 413, 415)
_TWILIO_SERVICE = "/v2/Services/{service_sid}"
_TWILIO_ACCOUNT = "/2010-04-01/Accounts/{account_sid}"
_FORM = "application/x-www-form-urlencoded"


def _twilio(
    method: str, path: str, summary: str, body: str | None, ok: int, ok_schema: str,
    errors: tuple[int, ...] = _TWILIO_ERRORS,
) -> Operation:  # fmt: skip
    return Operation(
        method, path, summary, "twilio", body, ok, errors, "twilio", error="TwilioError",
        body_media=_FORM, ok_schema=ok_schema,
    )  # fmt: skip


def _vonage_verify(
    method: str, path: str, summary: str, body: str | None, ok: int,
    ok_schema: str | None, errors: tuple[int, ...],
) -> Operation:  # fmt: skip
    return Operation(
        method, path, summary, "vonage", body, ok, errors, "vonageBasic",
        error="VonageProblem", ok_schema=ok_schema,
    )  # fmt: skip


_VONAGE_VERIFY = (
    _vonage_verify("post", "/v2/verify",
                   "Vonage Verify v2: start a verification (one sms step); 409 while one to "
                   "the number is pending; 403 when the account's fraud guard refuses it",
                   "VerifyIn", 202, "VonageVerifyStarted",
                   (400, 401, 403, 409, 413, 415, 422, 429)),
    _vonage_verify("post", "/v2/verify/{request_id}",
                   "Vonage Verify v2: check a code (400 a wrong one; 410 after too many)",
                   "CodeIn", 200, "VonageVerifyChecked", (400, 401, 404, 410, 413, 415, 422)),
    _vonage_verify("delete", "/v2/verify/{request_id}", "Vonage Verify v2: cancel",
                   None, 204, None, (401, 404)),
    _vonage_verify("post", "/v2/verify/{request_id}/next_workflow",
                   "Vonage Verify v2: a new code now, over another route", None, 200,
                   "VonageVerifyStarted", (401, 404, 409)),
)  # fmt: skip

_TWILIO = (
    _twilio("post", f"{_TWILIO_SERVICE}/Verifications",
            "Twilio Verify v2: start a verification (a second one to the same number while "
            "pending resends the code); 403 when the account's fraud guard refuses it",
            "TwilioVerificationIn", 201, "TwilioVerification",
            (*_TWILIO_ERRORS, 403, 409, 429)),
    _twilio("get", f"{_TWILIO_SERVICE}/Verifications/{{sid}}",
            "Twilio Verify v2: fetch a verification", None, 200, "TwilioVerification",
            (401, 404)),
    _twilio("post", f"{_TWILIO_SERVICE}/Verifications/{{sid}}",
            "Twilio Verify v2: cancel a verification (Status=canceled)",
            "TwilioVerificationUpdateIn", 200, "TwilioVerification", (*_TWILIO_ERRORS, 409)),
    _twilio("post", f"{_TWILIO_SERVICE}/VerificationCheck",
            "Twilio Verify v2: check a code (by To or VerificationSid); 404 once the "
            "verification is final, 429 after its attempts",
            "TwilioVerificationCheckIn", 200, "TwilioVerificationCheck",
            (*_TWILIO_ERRORS, 429)),
    _twilio("post", f"{_TWILIO_ACCOUNT}/Messages.json",
            "Twilio Messaging: send a message (ProvideFeedback=true: trackable)",
            "TwilioMessageIn", 201, "TwilioMessage", (*_TWILIO_ERRORS, 403)),
    _twilio("get", f"{_TWILIO_ACCOUNT}/Messages/{{message_sid}}.json",
            "Twilio Messaging: fetch a message", None, 200, "TwilioMessage", (401, 404)),
    _twilio("post", f"{_TWILIO_ACCOUNT}/Messages/{{message_sid}}/Feedback.json",
            "Twilio Message Feedback: confirmed (the user converted) or unconfirmed",
            "TwilioFeedbackIn", 201, "TwilioFeedback", (*_TWILIO_ERRORS, 403)),
)  # fmt: skip

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
    Operation(
        "post",
        "/api/v1/verifications",
        "Start a verification: convroute generates the code (never returned), sends it over "
        "the route the router picks and answers the verification; the account's fraud guard "
        "may refuse it (403 country_blocked or fraud_suspected, 429 over a rate limit), and "
        "then nothing is sent",
        "native",
        "VerificationIn",
        ok=201,
        errors=(401, 403, 413, 415, 422, 429),
        ok_schema="Verification",
    ),
    Operation(
        "get",
        "/api/v1/verifications/insights",
        "Verify Insights: the account's verifications started, approved, expired, out of "
        "attempts, canceled, and their conversion rate, by country, network, route and "
        "channel, per hour or day if asked; and what the fraud guard refused",
        "native",
        errors=(401, 422),
        ok_schema="VerifyInsights",
        query=_INSIGHT_QUERY,
    ),
    Operation(
        "get",
        "/api/v1/verifications/{id}",
        "A verification (expired once its time ran out)",
        "native",
        errors=(401, 404),
        ok_schema="Verification",
    ),
    Operation(
        "post",
        "/api/v1/verifications/{id}/check",
        "Check the code the user typed: valid only for the right code in time, within the "
        "attempts; each check is a conversion event of the verification's message",
        "native",
        "CheckIn",
        errors=(401, 404, 413, 415, 422),
        ok_schema="VerificationCheck",
    ),
    Operation(
        "post",
        "/api/v1/verifications/{id}/resend",
        "Send a new code (the earlier one stops being valid; its message becomes resent), "
        "over another route where one serves; at most 5 messages a verification (409)",
        "native",
        "ResendIn",
        errors=(401, 404, 409, 413, 415, 422),
        ok_schema="Verification",
    ),
    Operation(
        "post",
        "/api/v1/verifications/{id}/cancel",
        "Cancel a pending verification (its message becomes canceled); 409 once final",
        "native",
        errors=(401, 404, 409),
        ok_schema="Verification",
    ),
    Operation(
        "get",
        "/api/v1/account/verify-guard",
        "The account's fraud guard in front of its verifications",
        "native",
        errors=(401,),
        ok_schema="VerifyGuard",
    ),
    Operation(
        "put",
        "/api/v1/account/verify-guard",
        "Set the account's fraud guard, whole: countries allowed (none: all), blocked and "
        "monitored, and what a pumping episode on a destination does (block or monitor)",
        "native",
        "GuardIn",
        errors=(401, 413, 415, 422),
        ok_schema="VerifyGuard",
    ),
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
    Operation(
        "post",
        plivo.SEND_PATH,
        "Plivo: send a message (trackable) to one or more destinations (dst joined by <)",
        "plivo",
        "PlivoMessageIn",
        202,
        _PLIVO_ERRORS,
        "basic",
        aliases=plivo.SEND_ALIASES,
        error="PlivoError",
        ok_schema="PlivoMessageQueued",
    ),
    Operation(
        "get",
        plivo.SEND_PATH,
        "Plivo: list the account's messages, newest first (the SDK's messages.list)",
        "plivo",
        None,
        200,
        (400, 401, 404, 503),
        "basic",
        query=(
            ("limit", "1 to 20 (20)"),
            ("offset", "messages to skip (0)"),
            ("message_time__gt", "sent after (YYYY-MM-DD HH:MM:SS, UTC)"),
            ("message_time__gte", "sent at or after"),
            ("message_time__lt", "sent before"),
            ("message_time__lte", "sent at or before"),
            ("message_time", "sent within that second"),
            (
                "message_state",
                "delivered, failed, undelivered, sent (queued, rejected, read: none)",
            ),
            ("message_direction", "outbound (inbound: none)"),
        ),
        aliases=plivo.SEND_ALIASES,
        error="PlivoError",
        ok_schema="PlivoMessageList",
    ),
    Operation(
        "get",
        plivo_messages.MESSAGE_PATH,
        "Plivo: one message (the SDK's messages.get)",
        "plivo",
        None,
        200,
        (401, 404, 503),
        "basic",
        aliases=plivo_messages.MESSAGE_ALIASES,
        error="PlivoError",
        ok_schema="PlivoMessage",
    ),
    Operation(
        "post",
        plivo.CONVERSION_PATH,
        "Plivo: report a conversion (Conversion Feedback API)",
        "plivo",
        "PlivoConversionIn",
        200,
        _PLIVO_ERRORS,
        "basic",
        aliases=plivo.CONVERSION_ALIASES,
        error="PlivoError",
        ok_schema="PlivoConversionRecorded",
    ),
    Operation(
        "post",
        "/sms/json",
        "Vonage: send an SMS (HTTP 200; a non-zero status in the body is an error; 429 with "
        "status 1 when throttled)",
        "vonage",
        ok=200,
        errors=(),
        ok_schema="VonageSmsResponse",
        security="vonage",
        query=_VONAGE_SEND_QUERY,
        body_media="application/x-www-form-urlencoded",
    ),
    *(
        Operation(
            "post",
            f"/conversions/{channel}",
            f"Vonage: report a conversion of an {channel.upper()} message (Conversion API)",
            "vonage",
            ok=200,
            errors=(401, 402, 413, 415, 420, 423, 503),
            security="vonage",
            query=_VONAGE_CONVERSION_QUERY,
            error="VonageError",
            body_media="application/x-www-form-urlencoded",
            ok_media="text/plain",
        )
        for channel in ("sms", "voice")
    ),
    *(
        Operation(
            "post",
            path,
            f"Bird: create a {kind} message conversion",
            "bird",
            "BirdConversionIn",
            204,
            (401, 403, 404, 413, 422, 503),
            "accessKey",
            error="BirdError",
        )
        for kind, path in (("channel", bird.CHANNEL_PATH), ("navigator", bird.NAVIGATOR_PATH))
    ),
    *_TWILIO,
    *_VONAGE_VERIFY,
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
        query=_INSIGHT_QUERY,
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
