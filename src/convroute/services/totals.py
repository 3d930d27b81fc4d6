"""Totals over a range, by route and by country: messages, conversions, conversion rate,
delivered receipts, cost (at the routes' current prices) and cost per conversion. The
dashboard (``/api/v1/dashboard/totals``) and ``convroute routes totals`` show them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from convroute.domain.destinations import Destination
from convroute.domain.models import Route


class TotalRow(Protocol):
    """One route's messages to one country and their outcomes (``storage/dashboard.py``)."""

    @property
    def route_id(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def messages(self) -> int: ...
    @property
    def final(self) -> int: ...
    @property
    def converted(self) -> int: ...
    @property
    def delivered(self) -> int: ...


def totals_report(rows: Sequence[TotalRow], routes: Sequence[Route]) -> dict[str, Any]:
    """``by_route`` and ``by_country``, the largest first."""
    named = {r.id: r for r in routes}
    by_route: dict[str, dict[str, Any]] = {}
    by_country: dict[str, dict[str, Any]] = {}
    for row in rows:
        route = named.get(row.route_id)
        price = route.price_for(Destination("", row.country, None)) if route else None
        cost = row.messages * price if price is not None else 0.0
        name = route.name if route else row.route_id
        for group, key, label in ((by_route, row.route_id, name), (by_country, row.country, None)):
            g = group.setdefault(key, {"messages": 0, "final": 0, "conversions": 0,
                                       "delivered": 0, "cost": 0.0})  # fmt: skip
            if label is not None:
                g["name"] = label
            g["messages"] += row.messages
            g["final"] += row.final
            g["conversions"] += row.converted
            g["delivered"] += row.delivered
            g["cost"] += cost
    return {
        "by_route": [_rates({"id": k, **v}) for k, v in _largest(by_route)],
        "by_country": [_rates({"country": k, **v}) for k, v in _largest(by_country)],
    }


def _largest(groups: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(groups.items(), key=lambda kv: (-kv[1]["messages"], kv[0]))


def _rates(g: dict[str, Any]) -> dict[str, Any]:
    """A group's rates: conversions over messages with a final status (younger ones may
    still convert), delivered receipts over messages, cost per conversion."""
    g["cost"] = round(g["cost"], 6)
    g["conversion_rate"] = round(g["conversions"] / g["final"], 6) if g["final"] else None
    g["receipt_rate"] = round(g["delivered"] / g["messages"], 6) if g["messages"] else None
    g["cost_per_conversion"] = round(g["cost"] / g["conversions"], 6) if g["conversions"] else None
    return g
