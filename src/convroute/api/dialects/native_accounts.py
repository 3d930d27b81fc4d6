"""The native API's operator endpoints for accounts, ``/api/v1/accounts``: list them, set an
account's request rate and conversion reporting, list its credentials, revoke and rotate one.

Like the routes endpoints they take the operator's token (``CONVROUTE_ADMIN_TOKEN``), never an
account's. A change made here takes effect on this instance at once and on every other
instance within ``CONVROUTE_AUTH_REFRESH_SECONDS`` (they watch the store's credential
watermark). Errors are the native API's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as Endpoint

from convroute.api.dialects.native import native, optional_iso
from convroute.api.dialects.native_routes import authenticate_admin
from convroute.api.dialects.native_routing import RoutingIn, checked
from convroute.api.http import container, json_response, read_json
from convroute.domain.clock import format_iso
from convroute.domain.errors import NotFoundError
from convroute.domain.models import Account, AccountRouting, Route
from convroute.services.accounts import check_rate_limit, rotate_credential
from convroute.services.objectives import routing_json

DEFAULT_OVERLAP_S = 86_400


class AccountPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to an account; absent fields stay. ``rate_limit_per_second`` null: the default."""

    rate_limit_per_second: float | msgspec.UnsetType | None = msgspec.UNSET
    conversions_enabled: bool | msgspec.UnsetType = msgspec.UNSET
    # the account's own routing, whole (null: the installation's objective, every route)
    routing: RoutingIn | msgspec.UnsetType | None = msgspec.UNSET


class RotationIn(msgspec.Struct, forbid_unknown_fields=True):
    """How long the old credential keeps working beside the new one, in seconds."""

    overlap_seconds: int = DEFAULT_OVERLAP_S


SCHEMAS = (AccountPatch, RotationIn)


def account_json(account: Account, routes: Sequence[Route] = ()) -> dict[str, Any]:
    """An account as the operator API shows it."""
    return {
        "id": account.id,
        "name": account.name,
        "created_at": format_iso(account.created_ms),
        "conversions_enabled": account.conversions_enabled,
        "rate_limit_per_second": account.rate_limit_per_second,
        "routing": routing_json(account.routing, routes),
    }


def credential_json(row: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """A credential without its secrets: whether it works, and until when."""
    revoked = row["revoked_ms"]
    return {
        "id": row["id"],
        "dialect": row["dialect"],
        "key_id": row["key_id"],
        "traffic_class": row["traffic_class"],
        "workspace_id": row["workspace_id"],
        "created_at": format_iso(row["created_ms"]),
        "revoked_at": optional_iso(revoked),
        "live": revoked is None or now_ms < revoked,
    }


async def _account(request: Request) -> Account:
    key = request.path_params["account"]
    found = await run_in_threadpool(container(request).store.account_by_name, key)
    if found is None:
        raise NotFoundError(f"no account named {key!r}")
    return found


async def _shown(request: Request, account: Account) -> dict[str, Any]:
    c = container(request)
    rows = await run_in_threadpool(c.store.list_credentials, account.id)
    routes = await run_in_threadpool(c.store.routes)
    now = c.clock()
    return {
        **account_json(account, routes),
        "credentials": [credential_json(r, now) for r in rows],
    }


@native
async def list_accounts(request: Request) -> Response:
    await authenticate_admin(request)
    rows = await run_in_threadpool(container(request).store.list_accounts)
    return json_response(
        {
            "accounts": [
                {
                    **{k: v for k, v in r.items() if k != "created_ms"},
                    "created_at": format_iso(r["created_ms"]),
                }
                for r in rows
            ]
        }
    )


@native
async def get_account(request: Request) -> Response:
    await authenticate_admin(request)
    return json_response(await _shown(request, await _account(request)))


@native
async def patch_account(request: Request) -> Response:
    await authenticate_admin(request)
    account = await _account(request)
    body = await read_json(request, AccountPatch)
    c = container(request)
    now = c.clock()
    # everything checked before anything is set: a refused change changes nothing
    rate = routing = None
    if not isinstance(body.rate_limit_per_second, msgspec.UnsetType):
        rate = (check_rate_limit(body.rate_limit_per_second),)
    if not isinstance(body.routing, msgspec.UnsetType):
        routing = AccountRouting() if body.routing is None else await checked(request, body.routing)
    if rate is not None:
        await run_in_threadpool(c.store.set_rate_limit, account.id, rate[0], now)
    if not isinstance(body.conversions_enabled, msgspec.UnsetType):
        enabled = body.conversions_enabled
        await run_in_threadpool(c.store.set_conversions_enabled, account.id, enabled, now)
    if routing is not None:
        await run_in_threadpool(c.store.set_routing, account.id, routing, now)
    c.auth.clear()
    return json_response(await _shown(request, await _account(request)))


@native
async def revoke(request: Request) -> Response:
    await authenticate_admin(request)
    account = await _account(request)
    c = container(request)
    credential_id = request.path_params["credential"]
    stops = await run_in_threadpool(c.store.revoke_credential, account.id, credential_id, c.clock())
    c.auth.clear()
    return json_response({"id": credential_id, "revoked_at": format_iso(stops)})


@native
async def rotate(request: Request) -> Response:
    await authenticate_admin(request)
    account = await _account(request)
    empty = request.headers.get("content-length") in (None, "0")
    body = RotationIn() if empty else await read_json(request, RotationIn)
    c = container(request)
    done = await run_in_threadpool(
        rotate_credential,
        c.store,
        account.id,
        request.path_params["credential"],
        c.clock(),
        body.overlap_seconds,
    )
    c.auth.clear()
    return json_response(
        {
            "credential": {"id": done.issued.credential.id, **done.issued.shown},
            "old": {"id": done.old_id, "revoked_at": format_iso(done.old_stops_ms)},
        },
        201,
    )


CREDENTIAL = "/api/v1/accounts/{account}/credentials/{credential}"
routes = [
    Endpoint("/api/v1/accounts", list_accounts, methods=["GET"]),
    Endpoint("/api/v1/accounts/{account}", get_account, methods=["GET"]),
    Endpoint("/api/v1/accounts/{account}", patch_account, methods=["PATCH"]),
    Endpoint(CREDENTIAL + "/revoke", revoke, methods=["POST"]),
    Endpoint(CREDENTIAL + "/rotate", rotate, methods=["POST"]),
]
