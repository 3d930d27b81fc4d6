"""Verify's operations in the OpenAPI document: the native API's verifications, insights and
fraud guard, and Twilio's and Vonage's Verify dialects (with Twilio's Messaging and Message
Feedback). ``operations.py`` places them among the rest."""

from __future__ import annotations

from convroute.api.operation import Operation

INSIGHT_QUERY = (
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


VERIFY_OPERATIONS = (
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
        query=INSIGHT_QUERY,
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
)

DIALECT_VERIFY_OPERATIONS = (*_TWILIO, *_VONAGE_VERIFY)
