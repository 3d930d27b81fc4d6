"""Helpers every dialect shares: bounded body reading, JSON decoding into typed structs with
per-field errors, credentials from headers, and the error guard around endpoints."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import unquote

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from convroute.api.problems import HttpProblem, malformed_json, too_large, unsupported_media_type
from convroute.bootstrap import Container
from convroute.domain.errors import (
    AuthenticationError,
    ConvrouteError,
    RateLimitedError,
    ReplayError,
    ValidationError,
)
from convroute.domain.models import Account, Credential, Principal
from convroute.domain.statuses import Dialect
from convroute.services.auth import MISS, principal_of

log = logging.getLogger("convroute.api")
S = TypeVar("S")
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]

_encoder = msgspec.json.Encoder()


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response, encoded by msgspec."""
    return Response(_encoder.encode(payload), status, headers, media_type="application/json")


AUTH_KEY = "convroute.auth_key"  # the scope's key for the credential a request named


def container(request: Request) -> Container:
    """The app's container."""
    c: Container = request.app.state.container
    return c


def media_type(request: Request) -> str | None:
    """The request's media type, lower-cased, without parameters."""
    raw = request.headers.get("content-type")
    return raw.split(";", 1)[0].strip().lower() if raw else None


async def read_body(request: Request) -> bytes:
    """The body, refusing more than the configured maximum (413) before reading it all."""
    limit = container(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large(limit)
        except ValueError:
            raise HttpProblem(400, "bad_request", "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:  # gone, or cut at the body deadline: nobody reads the answer
        raise HttpProblem(400, "client_disconnected", "the body did not arrive") from None
    return b"".join(chunks)


def parse_form(text: str) -> list[tuple[str, str]]:
    """A form body's ``(name, value)`` pairs, blank values kept: exactly
    ``parse_qsl(text, keep_blank_values=True, strict_parsing=True)`` (ValueError on a field
    without ``=``), at a third of its cost. A report's form body is mostly fields with
    nothing to decode, and ``parse_qsl`` decodes every name and value."""
    pairs: list[tuple[str, str]] = []
    for field in text.split("&") if text else ():
        name, sep, value = field.partition("=")
        if not sep:
            raise ValueError(f"bad query field: {field!r}")
        if "%" in field or "+" in field:
            name, value = unquote(name.replace("+", " ")), unquote(value.replace("+", " "))
        pairs.append((name, value))
    return pairs


async def read_json(request: Request, kind: type[S]) -> S:
    """Decode a JSON body into ``kind`` (a msgspec Struct); 415, 400 or 422 on bad input."""
    return (await read_json_raw(request, kind))[1]


async def read_json_raw(request: Request, kind: type[S]) -> tuple[str, S]:
    """``read_json``, with the body as received (kept as the event's raw request)."""
    if media_type(request) != "application/json":
        raise unsupported_media_type("application/json", request.headers.get("content-type"))
    body = await read_body(request)
    decoded = decode_json(body, kind)
    return body.decode(), decoded


_AT = re.compile(r" - at `\$(?:\.(?P<path>[^`]*))?`$")
_FIELD = re.compile(r"field `(?P<name>[^`]+)`")


def decode_json(body: bytes, kind: type[S]) -> S:
    """``msgspec.json.decode`` with its errors translated to ours, keyed by field: invalid
    JSON, invalid UTF-8 inside a string and nesting the decoder cannot follow are each the
    client's error, never ours."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise validation_error(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise malformed_json(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise malformed_json(f"invalid UTF-8 at byte {exc.start}") from None
    except RecursionError:
        raise malformed_json("it nests deeper than the decoder follows") from None


def validation_error(text: str) -> ValidationError:
    """A msgspec validation message (``Expected `str`, got `int` - at `$.status```) as ours."""
    at = _AT.search(text)
    problem = text[: at.start()] if at else text
    field = at.group("path") if at and at.group("path") else None
    named = _FIELD.search(problem)
    if named:  # "Object missing required field `x`" / "Object contains unknown field `x`"
        prefix = field + "." if field else ""
        field = prefix + named.group("name")
        if "missing required" in problem:
            problem = "is required"
        elif "unknown field" in problem:
            problem = "is not a known field"
    field = field or "body"
    return ValidationError(f"{field}: {problem}", {field: [problem]})


def client_address(request: Request) -> str | None:
    """The client's address: the peer's, or the one a trusted proxy forwarded (uvicorn's
    ``--forwarded-allow-ips`` rewrites it; see docs/api.md, "Behind a reverse proxy")."""
    return request.client.host if request.client else None


async def find_credential(
    request: Request, dialect: Dialect, key_id: str
) -> tuple[Credential, Account] | None:
    """The credential for ``key_id``, from the cache or (off the event loop) the store; 429
    while ``key_id`` is locked after too many failed authentications."""
    c = container(request)
    # (kept in the scope, not ``request.state``: a State object per request costs)
    auth_key = request.scope[AUTH_KEY] = f"{dialect.value}:{key_id}"
    await c.limiter.check_key(auth_key)
    auth = c.auth
    hit = auth.peek(dialect, key_id)
    if hit is MISS:
        return await run_in_threadpool(auth.load, dialect, key_id)
    return hit  # type: ignore[return-value]


async def authenticate_key_secret(
    request: Request, dialect: Dialect, key: str, secret: str
) -> Principal:
    """The principal of a key/secret pair (Plivo auth_id/auth_token, Vonage api_key/api_secret)."""
    return principal_of(await find_credential(request, dialect, key), secret)


def bearer_token(request: Request, scheme: str = "bearer") -> str:
    """The token of ``Authorization: <scheme> <token>``; AuthenticationError otherwise."""
    raw = request.headers.get("authorization", "")
    given, _, token = raw.partition(" ")
    if given.lower() != scheme or not token.strip():
        raise AuthenticationError(f"an Authorization: {scheme.title()} header is required")
    return token.strip()


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization: Basic`` header, or None without one."""
    raw = request.headers.get("authorization", "")
    scheme, _, encoded = raw.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationError("the Basic credentials are not valid base64") from None
    if not sep:
        raise AuthenticationError("the Basic credentials must be user:password")
    return user, password


A = TypeVar("A")
P = ParamSpec("P")


def authenticator(
    check: Callable[Concatenate[Request, P], Awaitable[A]],
) -> Callable[Concatenate[Request, P], Awaitable[A]]:
    """Rate limits around a dialect's authentication: a client address or credential id that
    failed too often lately gets 429 before anything is checked; each failure (not a replay:
    a client's honest retry) is counted; an account past its request rate gets 429."""

    @wraps(check)
    async def authenticate(request: Request, /, *args: P.args, **kwargs: P.kwargs) -> A:
        limiter = container(request).limiter
        address = client_address(request)
        await limiter.check_address(address)
        try:
            result = await check(request, *args, **kwargs)
        except AuthenticationError as exc:
            if not isinstance(exc, ReplayError):
                await limiter.failed(address, request.scope.get(AUTH_KEY))
            raise
        principal = result[0] if isinstance(result, tuple) else result
        if isinstance(principal, Principal):
            await limiter.admit(principal.account_id, principal.rate_limit_per_second)
        return result

    return authenticate


def classify(exc: ConvrouteError, table: Sequence[tuple[type[ConvrouteError], T]], other: T) -> T:
    """What a dialect's error table says about ``exc`` (its first matching kind), or ``other``."""
    return next((value for kind, value in table if isinstance(exc, kind)), other)


def guarded(render: Callable[[ConvrouteError], Response]) -> Callable[[Handler], Handler]:
    """Wrap an endpoint so that every error becomes a response in the dialect's format."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except RateLimitedError as exc:
                response = render(exc)
                response.headers["Retry-After"] = str(exc.retry_after_s)
                return response
            except ConvrouteError as exc:
                return render(exc)
            except Exception:
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                return render(HttpProblem(500, "internal_error", "internal error"))

        return endpoint

    return decorate
