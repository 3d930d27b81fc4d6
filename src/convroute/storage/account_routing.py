"""An account's own routing in its row of ``accounts`` (schema 0008): read by the store and by
the delivery's failover, which must keep to the routes the account allows."""

from __future__ import annotations

import json
from typing import Any

from convroute.domain.models import DEFAULT_ROUTING, AccountRouting
from convroute.storage import schema as t

ROUTING_COLUMNS = (
    t.accounts.c.routing_goal,
    t.accounts.c.routing_lambda,
    t.accounts.c.routing_epsilon,
    t.accounts.c.routes_allowed,
    t.accounts.c.routes_forbidden,
)


def routing_of_row(row: Any) -> AccountRouting:
    """An account's routing, from its row (the columns of ``ROUTING_COLUMNS``)."""
    if row.routing_goal is None and not row.routes_allowed and not row.routes_forbidden:
        return DEFAULT_ROUTING
    return AccountRouting(
        goal=row.routing_goal,
        lam=row.routing_lambda if row.routing_lambda is not None else 0.0,
        epsilon=row.routing_epsilon if row.routing_epsilon is not None else 0.02,
        allow=tuple(json.loads(row.routes_allowed or "[]")),
        forbid=tuple(json.loads(row.routes_forbidden or "[]")),
    )


def routing_values(routing: AccountRouting) -> dict[str, Any]:
    """The columns of an account's routing (NULL where it keeps the installation's)."""
    objective = routing.goal is not None
    return {
        "routing_goal": routing.goal,
        "routing_lambda": routing.lam if objective else None,
        "routing_epsilon": routing.epsilon if objective else None,
        "routes_allowed": json.dumps(list(routing.allow)) if routing.allow else None,
        "routes_forbidden": json.dumps(list(routing.forbid)) if routing.forbid else None,
    }
