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
from convroute.bootstrap import delay_of_settings, objective_of_settings
from convroute.domain.errors import ValidationError
from convroute.services.evaluations import REPLAYS, evaluate_period

KNOWN = {"policy", "setting", "since", "until", "country", "goal", "lambda", "epsilon", "replay"}


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
    lam, epsilon = _number(q.get("lambda"), "lambda"), _number(q.get("epsilon"), "epsilon")

    def run() -> dict[str, object]:
        return evaluate_period(
            c.store.logged_rows, c.clock(), policy, q.getlist("setting"), q.get("since", "7d"),
            q.get("until"), q.get("country"), objective_of_settings(c.settings),
            delay_of_settings(c.settings), q.get("goal"), lam, epsilon,
            q.get("replay", REPLAYS[0]),
        ).as_json()  # fmt: skip

    return json_response(await run_in_threadpool(run))


routes = [Endpoint("/api/v1/evaluations", evaluations, methods=["GET"])]
