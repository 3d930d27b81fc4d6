"""Vonage's (Nexmo's) dialect: the SMS API's ``/sms/json`` and the Conversion API
(``/conversions/sms``, ``/conversions/voice``), as seeds 002 and 003 and Vonage's SDKs speak
them.

Parameters come in the query string or a form body (``/sms/json`` also takes a JSON object).
Authentication, in this order: ``api_key`` + ``sig`` (signed exactly as Vonage's SDKs sign,
with the credential's signature method; ``timestamp`` within 5 minutes of now; a signature is
single-use), ``api_key`` + ``api_secret`` parameters, or an HTTP Basic header.

``/sms/json`` answers HTTP 200 with Vonage's ``message-count``/``messages[]`` body, a non-zero
``status`` and ``error-text`` on failure. The Conversion API answers in plain text: 200 ``OK``;
401 wrong credentials; 402 conversions not enabled for the account; 420 a parameter missing or
malformed; 423 a well-formed ``message-id`` that names no message of the account (Vonage's
"invalid parameters" code stands in for a 404, which its Conversion API does not have).
"""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from convroute.api.http import (
    authenticate_key_secret,
    authenticator,
    basic_credentials,
    classify,
    container,
    decode_json,
    find_credential,
    guarded,
    json_response,
    media_type,
    parse_form,
    read_body,
)
from convroute.api.problems import HttpProblem, unsupported_media_type
from convroute.domain.clock import parse_sql_utc, parse_unix_seconds
from convroute.domain.commands import Nonce, RecordConversion, SendMessage
from convroute.domain.errors import (
    AuthenticationError,
    ConflictError,
    ConversionsDisabledError,
    ConvrouteError,
    ForbiddenError,
    NoRouteError,
    NotFoundError,
    RateLimitedError,
    ReplayError,
    StorageError,
    ValidationError,
)
from convroute.domain.models import Principal, SignatureMethod
from convroute.domain.signatures import SIGNATURE_PARAM, signature_matches
from convroute.domain.statuses import ConversionStatus, Dialect, TrafficClass
from convroute.services.auth import principal_of
from convroute.services.messaging import (
    admit_report,
    default_message_type,
    validate_send,
)

SIGNATURE_WINDOW_MS = 5 * 60 * 1000
AUTH_PARAMS = frozenset({"api_key", "api_secret", SIGNATURE_PARAM})
FORM = "application/x-www-form-urlencoded"
MAX_CLIENT_REF = 100

REQUIRED = "is required"


class SignatureError(AuthenticationError):
    """The signature is wrong, stale, or cannot be checked."""

    code = "invalid_signature"


# -- parameters -------------------------------------------------------------------------------


async def read_params(request: Request, json_allowed: bool = False) -> dict[str, str]:
    """Query-string and body parameters as one mapping; a name given twice is refused."""
    pairs = list(request.query_params.multi_items()) if request.scope["query_string"] else []
    body = await read_body(request)
    if body:
        kind = media_type(request)
        if kind == FORM:
            try:
                pairs += parse_form(body.decode())
            except (UnicodeDecodeError, ValueError):
                raise ValidationError.field("body", "is not a valid form body") from None
        elif kind == "application/json" and json_allowed:
            decoded = decode_json(body, dict[str, str | int | float | bool])
            pairs += [(k, _scalar(v)) for k, v in decoded.items()]
        else:
            expected = f"{FORM} or application/json" if json_allowed else FORM
            raise unsupported_media_type(expected, request.headers.get("content-type"))
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise ValidationError.field(name, "is given more than once")
        params[name] = value
    return params


def _scalar(value: str | int | float | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@lru_cache(maxsize=1024)
def parse_timestamp(value: str, field: str = "timestamp") -> int:
    """Vonage's ``yyyy-MM-dd HH:mm:ss`` (UTC), or Unix seconds as the SDKs add when signing
    (ASCII digits, 2000-01-01 or later, as every other time convroute takes). Cached: its
    times have whole seconds, so a busy second's reports share one, and a signed report's
    is read twice (an error is raised again each time, never cached)."""
    unix_ms = parse_unix_seconds(value, field)
    return parse_sql_utc(value, field) if unix_ms is None else unix_ms


# -- authentication ---------------------------------------------------------------------------


@authenticator
async def authenticate(request: Request, params: dict[str, str]) -> tuple[Principal, Nonce | None]:
    """The principal, and the nonce a signed request must not reuse."""
    api_key = params.get("api_key")
    if SIGNATURE_PARAM in params:
        if not api_key:
            raise SignatureError("api_key is required with sig")
        if "api_secret" in params:
            raise SignatureError("give either api_secret or sig, not both")
        return await _signed(request, params, api_key)
    if api_key is not None or "api_secret" in params:
        if not api_key or not params.get("api_secret"):
            raise AuthenticationError("api_key and api_secret are both required")
        return await authenticate_key_secret(
            request, Dialect.VONAGE, api_key, params["api_secret"]
        ), None
    basic = basic_credentials(request)
    if basic is None:
        raise AuthenticationError("credentials are required: api_key and api_secret, or sig")
    return await authenticate_key_secret(request, Dialect.VONAGE, *basic), None


INVALID_SIGNED = "invalid credentials or signature"


async def _signed(
    request: Request, params: dict[str, str], api_key: str
) -> tuple[Principal, Nonce]:
    """Checks that need no credential come first, and every failure that does need one (an
    unknown key, a key without a signature secret, a wrong signature) answers the same
    words after the same work, so an answer never tells whether an ``api_key`` exists."""
    if "timestamp" not in params:
        raise SignatureError("a signed request must carry a timestamp")
    try:
        signed_ms = parse_timestamp(params["timestamp"])
    except ValidationError:
        raise SignatureError("the signed timestamp is not a date or Unix time") from None
    now = container(request).clock()
    if abs(signed_ms - now) > SIGNATURE_WINDOW_MS:
        raise SignatureError("the signed timestamp is more than 5 minutes from now")
    found = await find_credential(request, Dialect.VONAGE, api_key)
    (secret, method), known = _UNKNOWN_KEY, False
    if found and found[0].signature_secret and found[0].signature_method:
        (secret, method), known = (found[0].signature_secret, found[0].signature_method), True
    given = params[SIGNATURE_PARAM]
    if not signature_matches(params, given, secret, method) or not known:
        raise SignatureError(INVALID_SIGNED)
    key, earlier = nonce_keys(api_key, given, signed_ms)
    nonce = Nonce(key, max(signed_ms, now) + SIGNATURE_WINDOW_MS, earlier)
    return principal_of(found, None), nonce


def nonce_keys(api_key: str, signature: str, signed_ms: int) -> tuple[str, str]:
    """The used-signature key of a signed request, and its earlier form. The key is the signed
    second (8 hex digits) before a digest of key and signature (56): a replay carries the same
    timestamp and signature, so the same key, and keys ordered by time put a batch's new rows
    on the last pages of ``used_nonces``' index instead of one page a row (with the 5 minutes
    of a busy server in it, a random digest cost the writer 3 times the CPU and 4 times the
    time a row: docs/benchmarks.md). The earlier form, the digest alone, is what versions
    before recorded: still looked up, for the 5 minutes their rows can matter after an
    upgrade."""
    digest = hashlib.sha256(f"vonage|{api_key}|{signature.lower()}".encode()).hexdigest()
    return f"{signed_ms // 1000:08x}{digest[:56]}", digest


_UNKNOWN_KEY = (secrets.token_hex(24), SignatureMethod.SHA256)
"""What a signature is checked against when the key has none: the same work, never a match
that counts."""


_sorted_json = msgspec.json.Encoder(order="sorted")


def _public(params: dict[str, str]) -> str:
    """The parameters as stored with the event: everything but the secret and signature."""
    public = {k: v for k, v in params.items() if k not in AUTH_PARAMS}
    return _sorted_json.encode(public).decode()


# -- send: /sms/json --------------------------------------------------------------------------

_SEND_FIELDS = {"dst": "to", "src": "from"}


def render_send_error(exc: ConvrouteError) -> Response:
    """An SMS API error: HTTP 200 with a non-zero ``status`` and ``error-text``, as Vonage."""
    if isinstance(exc, RateLimitedError):  # Throttled, and HTTP 429 as Vonage's gateway
        body = {"message-count": "1", "messages": [{"status": "1", "error-text": exc.message}]}
        return json_response(body, 429)
    if isinstance(exc, SignatureError | ReplayError):
        status = "14"  # Invalid Signature: a signature already used is not valid again
    elif isinstance(exc, AuthenticationError):
        status = "4"  # Invalid Credentials
    elif isinstance(exc, NoRouteError):
        status = "6"  # Invalid Message: not routable
    elif isinstance(exc, ValidationError):
        missing = REQUIRED in [p for problems in exc.details.values() for p in problems]
        status = "2" if missing else "3"  # Missing Parameters / Invalid Parameters
    elif isinstance(exc, HttpProblem) and exc.status < 500:
        status = "3"
    else:
        status = "5"  # Internal Error
    text = exc.message
    for ours, theirs in _SEND_FIELDS.items():  # validate_send names Plivo's fields
        if text.startswith(ours + ":"):
            text = theirs + text[len(ours) :]
    return json_response(
        {"message-count": "1", "messages": [{"status": status, "error-text": text}]}
    )


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise ValidationError.field(name, REQUIRED)
    return value


@guarded(render_send_error)
async def send_sms(request: Request) -> Response:
    params = await read_params(request, json_allowed=True)
    principal, nonce = await authenticate(request, params)
    kind = params.get("type", "text")
    if kind not in ("text", "unicode"):
        raise ValidationError.field("type", f"only text and unicode are sent, got {kind!r}")
    client_ref = params.get("client-ref")
    if client_ref is not None and len(client_ref) > MAX_CLIENT_REF:
        raise ValidationError.field("client-ref", f"must be at most {MAX_CLIENT_REF} characters")
    command = SendMessage(
        principal,
        _required(params, "from"),
        _required(params, "to"),
        _required(params, "text"),
        default_message_type(principal),
        trackable=principal.traffic_class is TrafficClass.TWO_FA,
        client_ref=client_ref,
        nonce=nonce,
    )
    validate_send(command, number=False)  # the writer parses the number
    accepted = await container(request).dispatcher.send(command)
    message: dict[str, str] = {
        "to": command.dst.strip().lstrip("+"),
        "message-id": accepted.message_id,
        "status": "0",
        "message-price": f"{accepted.price:.8f}",
        # convroute bills nobody: there is no prepaid balance to run down (Vonage's field is
        # there for code that reads it)
        "remaining-balance": "0.00000000",
        # the network the number range belongs to, as convroute estimates it (a carrier name;
        # Vonage gives its MCC-MNC), empty where unknown
        "network": accepted.network or "",
    }
    if client_ref is not None:
        message["client-ref"] = client_ref
    return json_response({"message-count": "1", "messages": [message]})


# -- conversions: /conversions/sms and /conversions/voice -------------------------------------

_CONVERSION_STATUS: tuple[tuple[type[ConvrouteError], tuple[int, str]], ...] = (
    (AuthenticationError, (401, "Wrong credentials")),
    (ConversionsDisabledError, (402, "Conversion has not been enabled for your account")),
    (ForbiddenError, (403, "Forbidden")),
    (ConflictError, (409, "Conflict")),
    (NotFoundError, (423, "Invalid parameters")),
    (RateLimitedError, (429, "Too many requests")),
    (ValidationError, (420, "Invalid parameters")),
    (StorageError, (503, "Service unavailable, nothing was recorded")),
)


def render_conversion_error(exc: ConvrouteError) -> Response:
    """A Conversion API error: plain text, status codes as Vonage documents them."""
    if isinstance(exc, HttpProblem):
        status, title = exc.status, "Invalid request"
    else:
        status, title = classify(exc, _CONVERSION_STATUS, (500, "Internal error"))
    return PlainTextResponse(f"{title}: {exc.message}", status)


DELIVERED = {"true": True, "1": True, "false": False, "0": False}


@guarded(render_conversion_error)
async def record_conversion(request: Request) -> Response:
    params = await read_params(request)
    principal, nonce = await authenticate(request, params)
    given = _required(params, "message-id").strip()
    delivered = DELIVERED.get(_required(params, "delivered").strip().lower())
    if delivered is None:
        raise ValidationError.field("delivered", "must be true, false, 1 or 0")
    event_ms = parse_timestamp(params["timestamp"]) if params.get("timestamp") else None
    try:
        message_id = admit_report(principal, given)
    except NotFoundError:
        raise NotFoundError(_not_theirs(given)) from None
    c = container(request)
    command = RecordConversion(
        principal,
        message_id,
        ConversionStatus.CONVERTED if delivered else ConversionStatus.NOT_CONVERTED,
        event_ms=event_ms,
        raw=_public({**params, "endpoint": request.scope["path"]}),  # (a matched route's)
        nonce=nonce,
    )
    try:
        await c.committer.execute(command)
    except NotFoundError:
        raise NotFoundError(_not_theirs(message_id)) from None
    return PlainTextResponse("OK")


def _not_theirs(message_id: str) -> str:
    return f"message-id {message_id.lower()} is not a message of this account"


routes = [
    Route("/sms/json", send_sms, methods=["POST"]),
    Route("/conversions/sms", record_conversion, methods=["POST"]),
    Route("/conversions/voice", record_conversion, methods=["POST"]),
]
