"""Route administration: validated construction and changes of routes (API and CLI share it).

A route is global to the installation (the operator's upstreams, shared by every account), so
changing one is an operator's act: the HTTP endpoints take the admin token, not an account's.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import phonenumbers

from convroute.connectors.configs import CHECKS
from convroute.domain.errors import ValidationError
from convroute.domain.ids import new_id
from convroute.domain.models import Route, RouteDestination

CONNECTORS = tuple(CHECKS)  # simulated, http, smpp, plivo, vonage, twilio, bird
"""``simulated``: a carrier of a scenario file (latency, receipts, users), for demos and tests;
``http``: forwards each message to a provider's send API (docs/routing.md, "Connectors")."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_PRICE = 100.0


def check_name(name: str) -> str:
    """A route name: letters, digits, ``.``, ``_``, ``-``; 1 to 100 characters."""
    if not _NAME.match(name):
        raise ValidationError.field(
            "name",
            "must be 1 to 100 letters, digits, '.', '_' or '-', starting with one of the first two",
        )
    return name


def check_destination(country: str, price: float, network: str | None = None) -> RouteDestination:
    """A destination entry: an ISO 3166 alpha-2 country (or ``*``), an optional network name,
    a price per message (a finite number from 0 to 100)."""
    code = country.strip().upper()
    if code != "*" and code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError.field(
            "destinations", f"{country!r} is not an ISO 3166 country code (or '*' for every one)"
        )
    if network is not None:
        network = network.strip()
        if code == "*":
            raise ValidationError.field("destinations", "a network needs a country, not '*'")
        if not 1 <= len(network) <= 64:
            raise ValidationError.field("destinations", "a network name is 1 to 64 characters")
    if isinstance(price, bool) or not isinstance(price, int | float):
        raise ValidationError.field("destinations", "price must be a number")
    if not math.isfinite(price) or not 0.0 <= price <= MAX_PRICE:
        raise ValidationError.field("destinations", f"price must be from 0 to {MAX_PRICE:g}")
    return RouteDestination(code, float(price), network or None)


def check_destinations(entries: Iterable[RouteDestination]) -> tuple[RouteDestination, ...]:
    """Validated entries, one per (country, network), sorted."""
    out: dict[tuple[str, str], RouteDestination] = {}
    for e in entries:
        d = check_destination(e.country, e.price, e.network)
        key = (d.country, d.network or "")
        if key in out:
            where = d.country + (f"/{d.network}" if d.network else "")
            raise ValidationError.field("destinations", f"{where} is listed twice")
        out[key] = d
    if not out:
        raise ValidationError.field("destinations", "a route serves at least one destination")
    return tuple(out[k] for k in sorted(out))


def check_connector(connector: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A known connector and a config object for it (each connector checks its own keys)."""
    if connector not in CONNECTORS:
        raise ValidationError.field("connector", f"must be one of {', '.join(CONNECTORS)}")
    if not isinstance(config, Mapping):
        raise ValidationError.field("config", "must be an object")
    return CHECKS[connector](config)


def new_route(
    name: str,
    destinations: Iterable[RouteDestination],
    now_ms: int,
    connector: str = "simulated",
    config: Mapping[str, Any] | None = None,
    enabled: bool = True,
) -> Route:
    """A new, validated route."""
    return Route(
        id=new_id(now_ms),
        name=check_name(name),
        enabled=enabled,
        connector=connector,
        destinations=check_destinations(destinations),
        created_ms=now_ms,
        config=check_connector(connector, config or {}),
    )


def changed(
    route: Route,
    enabled: bool | None = None,
    destinations: Iterable[RouteDestination] | None = None,
    connector: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> Route:
    """``route`` with the given fields replaced, validated."""
    connector = route.connector if connector is None else connector
    return dataclasses.replace(
        route,
        enabled=route.enabled if enabled is None else enabled,
        destinations=route.destinations
        if destinations is None
        else check_destinations(destinations),
        connector=connector,
        config=check_connector(connector, route.config if config is None else config),
    )


def with_price(route: Route, country: str, price: float, network: str | None = None) -> Route:
    """``route`` with the price for one destination set (added if it was not served)."""
    entry = check_destination(country, price, network)
    kept = [
        d
        for d in route.destinations
        if (d.country, d.network or "") != (entry.country, entry.network or "")
    ]
    return changed(route, destinations=[*kept, entry])


_SECRET = re.compile(r"secret|token|password|passwd|key|auth", re.IGNORECASE)


def shown_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A connector config as it may be shown: credentials masked."""
    return {k: "***" if _SECRET.search(k) and v else v for k, v in config.items()}


def route_json(route: Route) -> dict[str, Any]:
    """A route as the API and ``routes list --json`` show it (credentials masked)."""
    return {
        "id": route.id,
        "name": route.name,
        "enabled": route.enabled,
        "connector": route.connector,
        "config": shown_config(route.config),
        "destinations": [
            {"country": d.country, "network": d.network, "price": d.price}
            for d in route.destinations
        ],
        "created_ms": route.created_ms,
    }
