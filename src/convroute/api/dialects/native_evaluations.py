"""Offline policy evaluation over HTTP, ``GET /api/v1/evaluations`` (operator token): what a
policy, or the policy with other settings, would have achieved on the traffic the service
logged in a period (``services/evaluations.py``; the same as ``convroute evaluate``).

Query: ``policy`` (required), ``setting`` (``KEY=NUMBER``, repeatable), ``since`` and
``until`` (ISO 8601, or ``30m``/``24h``/``7d`` ago; default the last 7 days), ``country``,
``goal``/``lambda``/``epsilon`` (the objective values are reported under; default the
installation's). Errors are the native API's.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as Endpoint

from convroute.api.dialects.native import native
from convroute.api.dialects.native_routes import authenticate_admin
from convroute.api.http import container, json_response
from convroute.bootstrap import objective_of_settings
from convroute.domain.errors import ValidationError
from convroute.routing.base import Goal, Objective
from convroute.routing.delay import ConversionDelay
from convroute.services.evaluations import (
    check_range,
    offline_evaluation,
    parse_moment,
    parse_settings,
)
from convroute.services.objectives import GOALS

KNOWN = {"policy", "setting", "since", "until", "country", "goal", "lambda", "epsilon"}


def _number(value: str | None, field: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValidationError.field(field, "must be a number") from None


@native
async def evaluations(request: Request) -> Response:
    await authenticate_admin(request)
    q = request.query_params
    unknown = set(q) - KNOWN
    if unknown:
        raise ValidationError.field(sorted(unknown)[0], "is not a known parameter")
    policy = q.get("policy")
    if not policy:
        raise ValidationError.field("policy", "is required")
    c = container(request)
    now = c.clock()
    since_ms = parse_moment(q.get("since", "7d"), now, "since")
    until_ms = parse_moment(q["until"], now, "until") if "until" in q else now
    check_range(since_ms, until_ms)
    s = c.settings
    objective = objective_of_settings(s)
    goal = q.get("goal")
    if goal is not None:
        if goal not in GOALS:
            raise ValidationError.field("goal", f"must be one of {', '.join(GOALS)}")
        lam, epsilon = _number(q.get("lambda"), "lambda"), _number(q.get("epsilon"), "epsilon")
        objective = Objective(Goal(goal), lam or 0.0, 0.02 if epsilon is None else epsilon)
    country = q.get("country")
    country = country.strip().upper() if country else None
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise ValidationError.field("country", "must be ISO 3166 alpha-2, e.g. GB")
    settings = parse_settings(q.getlist("setting"))
    delay = ConversionDelay(
        s.routing_delay_median_seconds, s.routing_delay_sigma, s.routing_window_seconds
    )

    def run() -> dict[str, object]:
        rows = c.store.logged_rows(since_ms, until_ms, country)
        result = offline_evaluation(
            rows, policy, settings, delay, objective, since_ms, until_ms, country
        )
        return result.as_json()

    return json_response(await run_in_threadpool(run))


routes = [Endpoint("/api/v1/evaluations", evaluations, methods=["GET"])]
