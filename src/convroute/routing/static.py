"""The static rule: the cheapest enabled route that serves the destination (ties: by name).

It is what a gateway without feedback does, and convroute's rule until a learning policy is
configured. Its decisions are deterministic, so their logged probability is 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from convroute.domain.destinations import Destination
from convroute.domain.errors import NoRouteError
from convroute.domain.models import Route

POLICY_NAME = "static-cheapest"


@dataclass(frozen=True, slots=True)
class Choice:
    """A routing decision: the route, its price, the probability the policy chose it with, and
    every candidate with its price (logged so that other policies can be evaluated offline)."""

    route: Route
    price: float
    probability: float
    policy: str
    candidates: tuple[tuple[str, float], ...]
    reason: str | None = None  # why the candidates are fewer than the routes serving it
    explored: bool = False  # another candidate had a higher probability
    # every candidate's probability, in the order of ``candidates`` (logged with them: what
    # tells an offline evaluation where the log supports another policy's choices)
    probabilities: tuple[float, ...] = ()


def serving(routes: Iterable[Route], dest: Destination) -> list[tuple[float, Route]]:
    """The enabled routes serving ``dest`` with their prices there, cheapest first (ties: by
    name); NoRouteError when there is none."""
    candidates: list[tuple[float, str, Route]] = []
    for route in routes:
        if not route.enabled:
            continue
        price = route.price_for(dest)
        if price is not None:
            candidates.append((price, route.name, route))
    if not candidates:
        where = dest.country + (f" ({dest.network})" if dest.network else "")
        raise NoRouteError(f"no enabled route serves {where}", {"dst": [f"no route to {where}"]})
    candidates.sort(key=lambda c: (c[0], c[1]))
    return [(price, route) for price, _, route in candidates]


def choose_cheapest(routes: Iterable[Route], dest: Destination) -> Choice:
    """The cheapest enabled route serving ``dest``; NoRouteError when there is none."""
    served = serving(routes, dest)
    price, route = served[0]
    return Choice(
        route=route,
        price=price,
        probability=1.0,
        policy=POLICY_NAME,
        candidates=tuple((r.id, p) for p, r in served),
    )
