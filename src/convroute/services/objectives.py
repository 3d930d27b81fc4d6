"""Each account's own routing (issue 22, DESIGN 5.4): the objective its sends are valued by
and the routes they may take. Every account learns from one body of evidence per route,
destination and traffic; only the valuation and the candidates differ.

What is checked here, for the API and the CLI alike: the goal is one the engine knows; lambda
(value per currency unit) and epsilon (the conversion-rate loss tolerated for a cheaper
route) are finite and in range; the routes named exist (by name or id; kept as ids, so a
renamed route stays allowed); no route is both allowed and forbidden.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from convroute.domain.errors import ValidationError
from convroute.domain.models import AccountRouting, Route
from convroute.routing.base import Goal, Objective

GOALS = tuple(g.value for g in Goal)
MAX_LAMBDA = 1e6
MAX_ROUTES = 100


def objective_of(routing: AccountRouting) -> Objective | None:
    """The routing engine's objective for an account (None: the installation's)."""
    if routing.goal is None:
        return None
    return Objective(Goal(routing.goal), routing.lam, routing.epsilon)


def check_routing(
    routes: Sequence[Route],
    goal: str | None,
    lam: float | None = None,
    epsilon: float | None = None,
    allow: Sequence[str] = (),
    forbid: Sequence[str] = (),
) -> AccountRouting:
    """An account's routing from what a client gave, validated; ValidationError naming the
    field otherwise."""
    if goal is not None and goal not in GOALS:
        raise ValidationError.field("goal", f"must be one of {', '.join(GOALS)}, or null")
    if goal is None and (lam is not None or epsilon is not None):
        field = "lambda" if lam is not None else "epsilon"
        raise ValidationError.field(
            field, "needs a goal (the installation's objective has its own)"
        )
    if lam is not None and not (math.isfinite(lam) and 0.0 <= lam <= MAX_LAMBDA):
        raise ValidationError.field("lambda", f"must be a number from 0 to {MAX_LAMBDA:g}")
    if epsilon is not None and not (math.isfinite(epsilon) and 0.0 <= epsilon <= 1.0):
        raise ValidationError.field("epsilon", "must be a number from 0 to 1")
    if goal == Goal.VALUE and not lam:
        raise ValidationError.field("lambda", "is required above 0 with the value goal")
    allowed = _route_ids(routes, allow, "allow_routes")
    forbidden = _route_ids(routes, forbid, "forbid_routes")
    both = set(allowed) & set(forbidden)
    if both:
        name = next(r.name for r in routes if r.id in both)
        raise ValidationError.field("forbid_routes", f"{name!r} is also allowed")
    return AccountRouting(
        goal=goal,
        lam=lam or 0.0,
        epsilon=0.02 if epsilon is None else epsilon,
        allow=allowed,
        forbid=forbidden,
    )


def _route_ids(routes: Sequence[Route], given: Sequence[str], field: str) -> tuple[str, ...]:
    if len(given) > MAX_ROUTES:
        raise ValidationError.field(field, f"must name at most {MAX_ROUTES} routes")
    by_key = {r.name: r.id for r in routes} | {r.id: r.id for r in routes}
    ids: list[str] = []
    for key in given:
        if not isinstance(key, str) or key not in by_key:
            raise ValidationError.field(field, f"names no route: {key!r}")
        if by_key[key] not in ids:
            ids.append(by_key[key])
    return tuple(ids)


def routing_json(routing: AccountRouting, routes: Sequence[Route]) -> dict[str, Any]:
    """An account's routing as the APIs show it (routes by name, the installation's
    objective as ``goal: null``)."""
    names = {r.id: r.name for r in routes}
    own = routing.goal is not None
    return {
        "goal": routing.goal,
        "lambda": routing.lam if own else None,
        "epsilon": routing.epsilon if own else None,
        "allow_routes": [names.get(i, i) for i in routing.allow],
        "forbid_routes": [names.get(i, i) for i in routing.forbid],
    }
